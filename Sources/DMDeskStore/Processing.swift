import DMDeskCore
import Foundation
import GRDB

/// One inbound message the processor claimed.
public struct ClaimedMessage: Sendable, Equatable {
    public var mid: String
    public var text: String?
    public var payload: String?
    public var hasAttachments: Bool
    public var timestamp: EpochMillis
    public var attempts: Int
}

/// All the pending messages of one thread, claimed (`processing`) in one go, with what the responder needs.
public struct ClaimedBatch: Sendable {
    public var thread: String
    public var messages: [ClaimedMessage]
    public var mode: ThreadMode
    public var connected: Bool
    public var username: String?
    public var name: String?
    /// When the bot last sent this thread its fallback reply, and its away text (the polite bot's memory).
    public var lastFallbackAt: EpochMillis? = nil
    public var lastAwayAt: EpochMillis? = nil

    public var mids: [String] { messages.map(\.mid) }
    public var displayName: String {
        if let name, !name.isEmpty { return name }
        if let username, !username.isEmpty { return "@" + username }
        return thread
    }
}

public struct ClaimResult: Sendable {
    public var batches: [ClaimedBatch] = []
    /// Threads whose remaining pending messages wait for a retry time (backoff): when to look again.
    public var deferred: [String: EpochMillis] = [:]
    public var rules: RuleSet
}

/// What the responder decided for one batch; applied atomically by `completeBatches`.
public struct BatchPlan: Sendable {
    public struct Verification: Sendable {
        public var tokenHash: String
        public var eventId: String
        /// The DM carrying the link; queued only if the token row was created (a redelivered event creates none).
        public var draft: OutboundDraft
        public init(tokenHash: String, eventId: String, draft: OutboundDraft) {
            self.tokenHash = tokenHash
            self.eventId = eventId
            self.draft = draft
        }
    }

    public var thread: String
    public var mids: [String]
    /// The mode the plan was made for; if an operator took the thread over meanwhile, nothing is sent.
    public var plannedMode: ThreadMode
    public var verification: Verification?
    /// Instagram DMs and WhatsApp notifications, in sending order.
    public var drafts: [OutboundDraft]
    /// Switch the thread to human mode (handover).
    public var handover: Bool
    /// Leave the thread for a person: `awaiting_operator = 1`.
    public var awaitOperator: Bool
    /// Why (for logs): the rule id, "HUMAN_AGENT", "fallback", "human mode", …
    public var reason: String
    /// The agent responder answers this batch after the tick: its messages stay `processing` until it completes
    /// them (`completeBatches`), and nothing else of the plan is applied now.
    public var handOff = false
    /// The plan sends the fallback reply, or the away text, at this time (remembered on the thread when applied).
    public var fallbackAt: EpochMillis? = nil
    public var awayAt: EpochMillis? = nil

    public init(
        thread: String, mids: [String], plannedMode: ThreadMode, verification: Verification? = nil, drafts: [OutboundDraft] = [],
        handover: Bool = false, awaitOperator: Bool = false, reason: String
    ) {
        self.thread = thread
        self.mids = mids
        self.plannedMode = plannedMode
        self.verification = verification
        self.drafts = drafts
        self.handover = handover
        self.awaitOperator = awaitOperator
        self.reason = reason
    }
}

public struct BatchCompletion: Sendable {
    public var thread: String
    /// Outbox rows to hand to the outbox worker, in order: committed `sending` already (they go to the in-process
    /// worker and nobody else), so a crash before their call leaves them in doubt, never plainly pending.
    public var records: [OutboundRecord] = []
    public var events: [JournalEvent] = []
    /// Replies for the Redis context (`{"r":"a"}`); never the verification link.
    public var context: [ContextTurn] = []
    /// True when the thread had been taken over between claim and completion, so nothing was sent.
    public var suppressed = false
}

public struct BatchFailure: Sendable {
    public var events: [JournalEvent]
    /// When the messages may be tried again; nil when they are now `failed` for good.
    public var retryAt: EpochMillis?
}

extension SQLiteStore {
    public func resetProcessing() async throws -> Int {
        try await write(.replies) { db in
            try db.execute(sql: "UPDATE messages SET status = 'pending' WHERE status = 'processing'")
            return db.changesCount
        }
    }

    public func threadsWithPending() async throws -> [(thread: String, dueAt: EpochMillis?)] {
        try await read { db in
            var out: [(thread: String, dueAt: EpochMillis?)] = []
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT thread_id, MIN(COALESCE(next_attempt_at, 0)) AS due FROM messages
                    WHERE status = 'pending' GROUP BY thread_id
                    """)
            while let row = try rows.next() {
                let due: EpochMillis = try row.decode(forColumn: "due")
                out.append((try row.decode(forColumn: "thread_id"), due == 0 ? nil : due))
            }
            return out
        }
    }

    public func claimAndComplete(
        threads: [String], now: EpochMillis, finishing sends: [OutboundResult], marking marks: [Int64],
        plan: @escaping @Sendable (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) async throws -> ReplyTick {
        try await writeWithoutTransaction(.replies) { db in
            try self.tick(db, threads: threads, now: now, finishing: sends, marking: marks, plan: plan)
        }
    }

    /// `claimAndComplete`'s transaction. One commit per tick instead of two, and the messages' rows are written once.
    func tick(
        _ db: Database, threads: [String], now: EpochMillis, finishing sends: [OutboundResult], marking marks: [Int64],
        plan: (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) throws -> ReplyTick {
        var tick: ReplyTick?
        try db.inTransaction {
            // The outbox's send results first (each in its own savepoint, like `finishOutbound(_:)`), then its rows
            // about to be sent (`markSending(_:)`). A lost transaction fails the whole tick.
            var finished: [Result<OutboxChange, any Error>] = []
            finished.reserveCapacity(sends.count)
            for send in sends {
                do {
                    finished.append(.success(try db.withSavepoint { try Self.finishOutbound(send, db: db) }))
                } catch where !db.isInsideTransaction {
                    throw error  // the transaction is gone: the whole tick fails
                } catch {
                    finished.append(.failure(error))
                }
            }
            var marked: [Result<SendingMark, any Error>] = []
            marked.reserveCapacity(marks.count)
            for id in marks {
                do {
                    marked.append(.success(try db.withSavepoint { try Self.markSending(id, db: db, now: now) }))
                } catch where !db.isInsideTransaction {
                    throw error  // the transaction is gone: the whole tick fails
                } catch {
                    marked.append(.failure(error))
                }
            }
            let claim = try Self.claim(db, threads: threads, rules: ruleCache, now: now)
            var outcomes: [ReplyTick.Outcome] = []
            outcomes.reserveCapacity(claim.batches.count)
            for batch in claim.batches {
                let p: BatchPlan
                do {
                    p = try plan(batch, claim.rules)
                } catch {
                    outcomes.append(ReplyTick.Outcome(batch: batch, plan: nil, result: .failure(error)))
                    continue
                }
                do {
                    // Claimed in this very transaction: the thread exists and its mode is the one planned for.
                    let completion = try db.withSavepoint { try Self.complete(p, db: db, now: now, claimedHere: true) }
                    outcomes.append(ReplyTick.Outcome(batch: batch, plan: p, result: .success(completion)))
                } catch where Self.isStorageFailure(error) || !db.isInsideTransaction {
                    // Not the batch's fault (a full disk, say): the whole tick fails, so nothing of it is
                    // committed — not even the claim — and the batch is answered once the store writes again,
                    // without spending one of its attempts.
                    throw error
                } catch {
                    outcomes.append(ReplyTick.Outcome(batch: batch, plan: p, result: .failure(error)))
                }
            }
            tick = ReplyTick(claim: claim, outcomes: outcomes, finished: finished, marked: marked)
            return .commit
        }
        return tick!
    }

    /// Claims, inside the caller's transaction, every due pending message of each thread (→ `processing`).
    static func claim(_ db: Database, threads: [String], rules cache: RuleCache, now: EpochMillis) throws -> ClaimResult {
        var result = ClaimResult(rules: try cache.current(db))
        guard !threads.isEmpty else { return result }
        // Three statements for the whole tick, whatever the number of threads (the ids travel as one JSON array).
        let ids = JSONValue.array(threads.map { .string($0) }).compactString
        var byThread: [String: [(Int64, ClaimedMessage)]] = [:]
        let claimed = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    UPDATE messages SET status = 'processing'
                    WHERE status = 'pending' AND thread_id IN (SELECT value FROM json_each(?1))
                      AND (next_attempt_at IS NULL OR next_attempt_at <= ?2)
                    RETURNING thread_id, rowid AS row_id, mid, text, payload, attachments IS NOT NULL AS has_attachments,
                              timestamp, attempts
                    """),
            arguments: [ids, now])
        while let row = try claimed.next() {
            let message = ClaimedMessage(
                mid: try row.decode(forColumn: "mid"), text: try row.decode(forColumn: "text"),
                payload: try row.decode(forColumn: "payload"), hasAttachments: try row.decode(forColumn: "has_attachments"),
                timestamp: try row.decode(forColumn: "timestamp"), attempts: try row.decode(forColumn: "attempts"))
            byThread[try row.decode(String.self, forColumn: "thread_id"), default: []].append(
                (try row.decode(forColumn: "row_id"), message))
        }
        let deferred = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT thread_id, MIN(next_attempt_at) AS due FROM messages
                    WHERE status = 'pending' AND thread_id IN (SELECT value FROM json_each(?1)) AND next_attempt_at > ?2
                    GROUP BY thread_id
                    """),
            arguments: [ids, now])
        while let row = try deferred.next() {
            result.deferred[try row.decode(forColumn: "thread_id")] = try row.decode(forColumn: "due")
        }
        guard !byThread.isEmpty else { return result }
        struct Info {
            var mode: ThreadMode
            var connected: Bool
            var username: String?
            var name: String?
            var lastFallbackAt: EpochMillis?
            var lastAwayAt: EpochMillis?
        }
        var info: [String: Info] = [:]
        let rows = try Row.fetchCursor(
            db.cachedStatement(
                sql: """
                    SELECT t.id, t.mode, p.connected, p.username, p.name, t.last_fallback_at, t.last_away_at FROM threads t LEFT JOIN profiles p ON p.id = t.id
                    WHERE t.id IN (SELECT value FROM json_each(?1))
                    """),
            arguments: [JSONValue.array(byThread.keys.map { .string($0) }).compactString])
        while let row = try rows.next() {
            info[try row.decode(forColumn: "id")] = Info(
                mode: try row.decode(forColumn: "mode"), connected: try row.decode(Bool?.self, forColumn: "connected") ?? false,
                username: try row.decode(forColumn: "username"), name: try row.decode(forColumn: "name"),
                lastFallbackAt: try row.decode(forColumn: "last_fallback_at"), lastAwayAt: try row.decode(forColumn: "last_away_at"))
        }
        for thread in threads {
            guard let rows = byThread[thread] else { continue }
            let messages = rows.sorted { a, b in a.1.timestamp != b.1.timestamp ? a.1.timestamp < b.1.timestamp : a.0 < b.0 }.map(\.1)
            let t = info[thread]
            result.batches.append(
                ClaimedBatch(
                    thread: thread, messages: messages, mode: t?.mode ?? .auto, connected: t?.connected ?? false,
                    username: t?.username, name: t?.name, lastFallbackAt: t?.lastFallbackAt, lastAwayAt: t?.lastAwayAt))
        }
        return result
    }

    public func completeBatches(_ plans: [BatchPlan], now: EpochMillis) async -> [Result<BatchCompletion, any Error>] {
        await writeEach(plans, as: .replies) { plan, db in try Self.complete(plan, db: db, now: now) }
    }

    /// `claimedHere`: the batch was claimed in this same transaction, so its thread exists and its mode cannot have
    /// changed since the plan was made (no need to read either again).
    static func complete(_ plan: BatchPlan, db: Database, now: EpochMillis, claimedHere: Bool = false) throws -> BatchCompletion {
        var completion = BatchCompletion(thread: plan.thread)
        if plan.handOff { return completion }
        let currentMode: ThreadMode
        if claimedHere {
            currentMode = plan.plannedMode
        } else {
            currentMode = try ThreadMode.fetchOne(db.cachedStatement(sql: "SELECT mode FROM threads WHERE id = ?"), arguments: [plan.thread])
                ?? .auto
        }
        var drafts = plan.drafts
        var verification = plan.verification
        var handover = plan.handover
        var awaitOperator = plan.awaitOperator
        if currentMode == .human && plan.plannedMode == .auto {
            // An operator (or the Instagram app) took the thread over while we were deciding: stay quiet.
            drafts = []
            verification = nil
            handover = false
            awaitOperator = true
            completion.suppressed = true
        }
        if let v = verification,
            try insertVerificationToken(db, tokenHash: v.tokenHash, igId: plan.thread, eventId: v.eventId, now: now) != nil
        {
            let change = try enqueue(v.draft, in: db, threadExists: claimedHere, inFlight: true)
            completion.records.append(change.record)
            completion.events += change.events
        }
        for draft in drafts {
            let change = try enqueue(draft, in: db, threadExists: claimedHere, inFlight: true)
            completion.records.append(change.record)
            completion.events += change.events
            if draft.channel == .instagram, draft.kind != .verification, draft.kind != .reaction, let text = draft.text, !text.isEmpty {
                completion.context.append(ContextTurn(customer: plan.thread, role: .assistant, text: text))
            }
        }
        if !completion.suppressed, plan.fallbackAt != nil || plan.awayAt != nil {
            try db.cachedStatement(
                sql: """
                    UPDATE threads SET last_fallback_at = coalesce(?1, last_fallback_at), last_away_at = coalesce(?2, last_away_at)
                    WHERE id = ?3
                    """
            ).execute(arguments: [plan.fallbackAt, plan.awayAt, plan.thread])
        }
        if handover || awaitOperator {
            try db.cachedStatement(
                sql: """
                    UPDATE threads SET mode = CASE WHEN ?1 THEN 'human' ELSE mode END, awaiting_operator = 1, updated_at = ?2
                    WHERE id = ?3 AND (awaiting_operator = 0 OR (?1 AND mode <> 'human'))
                    """
            ).execute(arguments: [handover, now, plan.thread])
            if db.changesCount > 0, let summary = try threadSummary(db, id: plan.thread) {
                completion.events.append(try journal(db, type: EventType.threadUpdated, thread: plan.thread, data: .from(summary), at: now))
            }
        }
        let mark = try db.cachedStatement(
            sql: "UPDATE messages SET status = 'processed', error = NULL, next_attempt_at = NULL WHERE mid = ? AND status = 'processing'")
        for mid in plan.mids { try mark.execute(arguments: [mid]) }
        return completion
    }

    public func failBatch(
        thread: String, mids: [String], error: String, now: EpochMillis, maxAttempts: Int, backoffBaseMillis: EpochMillis
    ) async throws -> BatchFailure {
        try await write(.replies) { db in
            try Self.failBatch(
                db, thread: thread, mids: mids, error: error, now: now, maxAttempts: maxAttempts,
                backoffBaseMillis: backoffBaseMillis)
        }
    }

    static func failBatch(
        _ db: Database, thread: String, mids: [String], error: String, now: EpochMillis, maxAttempts: Int,
        backoffBaseMillis: EpochMillis
    ) throws -> BatchFailure {
        var events: [JournalEvent] = []
        var retryAt: EpochMillis? = nil
        for mid in mids {
            guard var record = try MessageRecord.fetchOne(db, key: mid), record.status == .processing else { continue }
            record.attempts += 1
            if record.attempts >= maxAttempts {
                record.status = .failed
                record.next_attempt_at = nil
                record.error = "no automatic reply after \(record.attempts) attempts: \(error)"
                try record.update(db)
                events.append(try journal(db, type: EventType.messageUpdated, thread: thread, data: .from(record.view)))
            } else {
                let delay = min(backoffBaseMillis << EpochMillis(record.attempts - 1), 60_000)
                record.status = .pending
                record.next_attempt_at = now + delay
                record.error = error
                try record.update(db)
                retryAt = min(retryAt ?? .max, now + delay)
            }
        }
        return BatchFailure(events: events, retryAt: retryAt)
    }

    public func releaseToPending(mids: [String]) async throws -> Int {
        guard !mids.isEmpty else { return 0 }
        return try await write(.replies) { db in
            let statement = try db.cachedStatement(sql: "UPDATE messages SET status = 'pending' WHERE mid = ? AND status = 'processing'")
            var changed = 0
            for mid in mids {
                try statement.execute(arguments: [mid])
                changed += db.changesCount
            }
            return changed
        }
    }

    public func processingCounts() async throws -> [ProcessingStatus: Int] {
        try await read { db in
            var out: [ProcessingStatus: Int] = [:]
            let rows = try Row.fetchCursor(
                db, sql: "SELECT status, COUNT(*) AS n FROM messages WHERE direction = 'in' AND status IS NOT NULL GROUP BY 1")
            while let row = try rows.next() { out[try row.decode(forColumn: "status")] = try row.decode(forColumn: "n") }
            return out
        }
    }
}
