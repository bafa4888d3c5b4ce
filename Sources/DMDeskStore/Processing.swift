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

extension Database {
    /// `inSavepoint` for the writer's hot loops: the same SAVEPOINT / RELEASE / ROLLBACK TO, but as cached
    /// statements (GRDB's `inSavepoint` prepares both statements again every time). Only inside a transaction.
    /// The body's error is rethrown after its savepoint is rolled back; when the transaction itself is gone
    /// afterwards (`db.isInsideTransaction`), the caller must not treat it as one item's failure: the unit failed.
    func withSavepoint<T>(_ body: () throws -> T) throws -> T {
        try cachedStatement(sql: "SAVEPOINT dmdesk").execute()
        do {
            let value = try body()
            try cachedStatement(sql: "RELEASE SAVEPOINT dmdesk").execute()
            return value
        } catch {
            try rollbackItem(
                after: error, rollback: cachedStatement(sql: "ROLLBACK TO SAVEPOINT dmdesk"),
                release: cachedStatement(sql: "RELEASE SAVEPOINT dmdesk"))
            throw error
        }
    }
}

extension Store {
    public static let maxProcessingAttempts = 5

    /// Start-up: batches that were in flight when the daemon stopped go back to `pending`. Returns how many rows.
    @discardableResult
    public func resetProcessing() throws -> Int {
        try write(.replies) { db in
            try db.execute(sql: "UPDATE messages SET status = 'pending' WHERE status = 'processing'")
            return db.changesCount
        }
    }

    /// Threads with pending inbound messages and the earliest time one may be claimed (nil: now).
    public func threadsWithPending() throws -> [(thread: String, dueAt: EpochMillis?)] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT thread_id, MIN(COALESCE(next_attempt_at, 0)) FROM messages
                    WHERE status = 'pending' GROUP BY thread_id
                    """
            ).map { row in
                let due: EpochMillis = row[1]
                return (row[0], due == 0 ? nil : due)
            }
        }
    }

    /// Claims, in one transaction, every due pending message of each thread (→ `processing`).
    public func claim(threads: [String], rules cache: RuleCache, now: EpochMillis = nowMillis()) throws -> ClaimResult {
        try write(.replies) { db in try Self.claim(db, threads: threads, rules: cache, now: now) }
    }

    /// What one processor tick did: the claim, and for each claimed batch (in order) its plan and completion — or
    /// why it could not be answered, in which case its messages are still `processing`, for `failBatch`.
    public struct TickResult: Sendable {
        public struct Outcome: Sendable {
            public var batch: ClaimedBatch
            public var plan: BatchPlan?
            public var result: Result<BatchCompletion, Error>
        }
        public var claim: ClaimResult
        public var outcomes: [Outcome]
        /// The send results recorded in the same transaction, in order.
        public var finished: [Result<OutboxChange, Error>] = []
        /// The outbox rows marked `sending` in the same transaction, in order.
        public var marked: [Result<SendingMark, Error>] = []
    }

    /// `claim` and `completeBatches` in one transaction: claims the due messages of `threads`, asks `plan` (the
    /// responder: no I/O) what to do with each batch and applies each plan in its own savepoint. One commit per
    /// tick instead of two, and the messages' rows are written once. A batch whose planning or completion failed
    /// stays `processing` (committed so), for `failBatch`. A storage failure (`Store.isStorageFailure`: a full
    /// disk, SQLite's own rollback of the transaction) throws instead: nothing of the tick is committed.
    public func claimAndComplete(
        threads: [String], rules cache: RuleCache, now: EpochMillis = nowMillis(), finishing sends: [OutboundResult] = [],
        marking marks: [Int64] = [], plan: (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) throws -> TickResult {
        try writeWithoutTransaction(.replies) { db in
            var tick: TickResult?
            try db.inTransaction {
                // The outbox's send results first (each in its own savepoint, like `finishOutbound(_:)`), then its
                // rows about to be sent (`markSending(_:)`). A lost transaction fails the whole tick.
                var finished: [Result<OutboxChange, Error>] = []
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
                var marked: [Result<SendingMark, Error>] = []
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
                let claim = try Self.claim(db, threads: threads, rules: cache, now: now)
                var outcomes: [TickResult.Outcome] = []
                outcomes.reserveCapacity(claim.batches.count)
                for batch in claim.batches {
                    let p: BatchPlan
                    do {
                        p = try plan(batch, claim.rules)
                    } catch {
                        outcomes.append(TickResult.Outcome(batch: batch, plan: nil, result: .failure(error)))
                        continue
                    }
                    do {
                        // Claimed in this very transaction: the thread exists and its mode is the one planned for.
                        let completion = try db.withSavepoint { try self.complete(p, db: db, now: now, claimedHere: true) }
                        outcomes.append(TickResult.Outcome(batch: batch, plan: p, result: .success(completion)))
                    } catch where Self.isStorageFailure(error) || !db.isInsideTransaction {
                        // Not the batch's fault (a full disk, say): the whole tick fails, so nothing of it is
                        // committed — not even the claim — and the batch is answered once the store writes again,
                        // without spending one of its attempts.
                        throw error
                    } catch {
                        outcomes.append(TickResult.Outcome(batch: batch, plan: p, result: .failure(error)))
                    }
                }
                tick = TickResult(claim: claim, outcomes: outcomes, finished: finished, marked: marked)
                return .commit
            }
            return tick!
        }
    }

    static func claim(_ db: Database, threads: [String], rules cache: RuleCache, now: EpochMillis) throws -> ClaimResult {
        var result = ClaimResult(rules: try cache.current(db))
        guard !threads.isEmpty else { return result }
        // Three statements for the whole tick, whatever the number of threads (the ids travel as one JSON array).
        let ids = JSONValue.array(threads.map { .string($0) }).compactString
        let claimed = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    UPDATE messages SET status = 'processing'
                    WHERE status = 'pending' AND thread_id IN (SELECT value FROM json_each(?1))
                      AND (next_attempt_at IS NULL OR next_attempt_at <= ?2)
                    RETURNING thread_id, rowid, mid, text, payload, attachments IS NOT NULL, timestamp, attempts
                    """),
            arguments: [ids, now])
        for row in try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT thread_id, MIN(next_attempt_at) FROM messages
                    WHERE status = 'pending' AND thread_id IN (SELECT value FROM json_each(?1)) AND next_attempt_at > ?2
                    GROUP BY thread_id
                    """),
            arguments: [ids, now])
        {
            result.deferred[row[0]] = row[1]
        }
        guard !claimed.isEmpty else { return result }
        var byThread: [String: [(Int64, ClaimedMessage)]] = [:]
        for row in claimed {
            byThread[row[0], default: []].append(
                (row[1], ClaimedMessage(mid: row[2], text: row[3], payload: row[4], hasAttachments: row[5], timestamp: row[6], attempts: row[7])))
        }
        var info: [String: Row] = [:]
        for row in try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT t.id, t.mode, p.connected, p.username, p.name FROM threads t LEFT JOIN profiles p ON p.id = t.id
                    WHERE t.id IN (SELECT value FROM json_each(?1))
                    """),
            arguments: [JSONValue.array(byThread.keys.map { .string($0) }).compactString])
        {
            info[row[0]] = row
        }
        for thread in threads {
            guard let rows = byThread[thread] else { continue }
            let messages = rows.sorted { a, b in a.1.timestamp != b.1.timestamp ? a.1.timestamp < b.1.timestamp : a.0 < b.0 }.map(\.1)
            let t = info[thread]
            result.batches.append(
                ClaimedBatch(
                    thread: thread, messages: messages, mode: ThreadMode(rawValue: t?[1] ?? "auto") ?? .auto,
                    connected: (t?[2] as Bool?) ?? false, username: t?[3], name: t?[4]))
        }
        return result
    }

    /// Applies the plans in one transaction, each in its own savepoint: queues the replies, creates the token,
    /// switches modes and marks the batch `processed` together — so a crash can never answer a batch twice.
    public func completeBatches(_ plans: [BatchPlan], now: EpochMillis = nowMillis()) -> [Result<BatchCompletion, Error>] {
        writeEach(plans, as: .replies) { plan, db in try self.complete(plan, db: db, now: now) }
    }

    /// `claimedHere`: the batch was claimed in this same transaction, so its thread exists and its mode cannot have
    /// changed since the plan was made (no need to read either again).
    private func complete(_ plan: BatchPlan, db: Database, now: EpochMillis, claimedHere: Bool = false) throws -> BatchCompletion {
        var completion = BatchCompletion(thread: plan.thread)
        if plan.handOff { return completion }
        let currentMode: ThreadMode
        if claimedHere {
            currentMode = plan.plannedMode
        } else {
            let mode = try String.fetchOne(db.cachedStatement(sql: "SELECT mode FROM threads WHERE id = ?"), arguments: [plan.thread])
            currentMode = mode.flatMap(ThreadMode.init(rawValue:)) ?? .auto
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
            try Self.insertVerificationToken(db, tokenHash: v.tokenHash, igId: plan.thread, eventId: v.eventId, now: now) != nil
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
        if handover || awaitOperator {
            try db.execute(
                sql: """
                    UPDATE threads SET mode = CASE WHEN ?1 THEN 'human' ELSE mode END, awaiting_operator = 1, updated_at = ?2
                    WHERE id = ?3 AND (awaiting_operator = 0 OR (?1 AND mode <> 'human'))
                    """, arguments: [handover, now, plan.thread])
            if db.changesCount > 0, let summary = try Self.threadSummary(db, id: plan.thread) {
                completion.events.append(try Self.journal(db, type: EventType.threadUpdated, thread: plan.thread, data: .from(summary), at: now))
            }
        }
        let mark = try db.cachedStatement(
            sql: "UPDATE messages SET status = 'processed', error = NULL, next_attempt_at = NULL WHERE mid = ? AND status = 'processing'")
        for mid in plan.mids { try mark.execute(arguments: [mid]) }
        return completion
    }

    /// A batch that could not be answered goes back to `pending` with attempts + 1 and a backoff (1 s, 2 s, 4 s …);
    /// after `maxProcessingAttempts` it is `failed`, with the reason, and the console hears of it.
    public func failBatch(
        thread: String, mids: [String], error: String, now: EpochMillis = nowMillis(),
        maxAttempts: Int = Store.maxProcessingAttempts, backoffBaseMillis: EpochMillis = 1000
    ) throws -> BatchFailure {
        try write(.replies) { db in
            var events: [JournalEvent] = []
            var retryAt: EpochMillis? = nil
            for mid in mids {
                guard var record = try MessageRecord.fetchOne(db, key: mid), record.status == "processing" else { continue }
                record.attempts += 1
                if record.attempts >= maxAttempts {
                    record.status = "failed"
                    record.next_attempt_at = nil
                    record.error = "no automatic reply after \(record.attempts) attempts: \(error)"
                    try record.update(db)
                    events.append(try Self.journal(db, type: EventType.messageUpdated, thread: thread, data: .from(record.view)))
                } else {
                    let delay = min(backoffBaseMillis << EpochMillis(record.attempts - 1), 60_000)
                    record.status = "pending"
                    record.next_attempt_at = now + delay
                    record.error = error
                    try record.update(db)
                    retryAt = min(retryAt ?? .max, now + delay)
                }
            }
            return BatchFailure(events: events, retryAt: retryAt)
        }
    }

    /// Counts by processing status, for tests and the bench.
    public func processingCounts() throws -> [String: Int] {
        try pool.read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT COALESCE(status, 'none'), COUNT(*) FROM messages WHERE direction = 'in' GROUP BY 1") {
                out[row[0]] = row[1]
            }
            return out
        }
    }
}
