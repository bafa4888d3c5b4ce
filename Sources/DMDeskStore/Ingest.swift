import DMDeskCore
import Foundation
import GRDB

/// What one delivery changed, for the steps after the commit.
public struct IngestOutcome: Sendable {
    public var events: [JournalEvent] = []
    public var context: [ContextTurn] = []
    /// Turns to take out of Redis (unsent messages), after `context` is pushed.
    public var contextErasures: [ContextTurn] = []
    /// Messages erased by an unsend.
    public var unsent = 0
    /// Threads with new pending inbound messages, for the reply processor.
    public var threadsToProcess: Set<String> = []
    public var storedMessages = 0
    /// New comments stored (a redelivered one counts as a duplicate).
    public var storedComments = 0
    public var duplicates = 0
    /// Outbox rows committed `pending` by this delivery (a comment rule's private reply), for the outbox worker.
    public var outbound: [OutboundRecord] = []
    public init() {}
}

public struct IngestOptions: Sendable {
    /// An echo we did not send means someone answered from the Instagram app: hand the thread to a person.
    public var echoTakeover: Bool
    public init(echoTakeover: Bool = true) { self.echoTakeover = echoTakeover }
}

extension SQLiteStore {
    public func ingest(_ deliveries: [[WebhookEvent]], options: IngestOptions) async -> [Result<IngestOutcome, any Error>] {
        let results = await writeEach(deliveries, as: .ingest) { events, db in try Self.ingest(events, db: db, options: options) }
        if Self.erasedAny(results) { try? await pool.writeWithoutTransaction(Self.truncateWAL) }
        return results
    }

    static func erasedAny(_ results: [Result<IngestOutcome, any Error>]) -> Bool {
        results.contains { (try? $0.get().unsent) ?? 0 > 0 }
    }

    /// After an unsend: the WAL still holds the pages as they were before the erase, so it is checkpointed and
    /// truncated (best effort: a reader holding an older snapshot makes it wait for the next unsend or checkpoint).
    static func truncateWAL(_ db: Database) throws {
        try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// One delivery, inside the caller's transaction (its savepoint): every event applied alone.
    static func ingest(_ events: [WebhookEvent], db: Database, options: IngestOptions) throws -> IngestOutcome {
        var outcome = IngestOutcome()
        for event in events { try applyAlone(event, db: db, options: options, outcome: &outcome) }
        return outcome
    }

    /// Applies one event in its own savepoint. An event the store refuses for what it holds (a broken constraint,
    /// a missing id) is journaled raw as `webhook.invalid` with the reason, and the delivery goes on; a failure of
    /// storage itself (disk full, I/O) fails the whole delivery, so Meta retries it.
    static func applyAlone(_ event: WebhookEvent, db: Database, options: IngestOptions, outcome: inout IngestOutcome) throws {
        var attempt = outcome
        do {
            try db.withSavepoint { try apply(event, db: db, options: options, outcome: &attempt) }
            outcome = attempt
        } catch where isRefusalOfTheEvent(error) && db.isInsideTransaction {
            outcome.events.append(try journalInvalid(event, reason: "\(error)", db: db))
        }
    }

    /// Errors that are about the event's content rather than about the storage.
    static func isRefusalOfTheEvent(_ error: Error) -> Bool {
        if error is StoreError { return true }
        guard let error = error as? DatabaseError else { return false }
        switch error.resultCode {
        case .SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE: return true
        default: return false
        }
    }

    static func journalInvalid(_ event: WebhookEvent, reason: String, db: Database) throws -> JournalEvent {
        try journal(
            db, type: EventType.invalid, thread: event.customerId.isEmpty ? nil : event.customerId,
            data: ["reason": .string(reason), "source": .string(event.source.rawValue), "raw": event.raw])
    }

    static func apply(_ event: WebhookEvent, db: Database, options: IngestOptions, outcome: inout IngestOutcome) throws {
        let now = nowMillis()
        switch event.kind {
        case .message(let m) where m.isDeleted:
            try applyUnsend(event, mid: m.mid, db: db, outcome: &outcome)
        case .message(let m) where m.isEcho:
            try applyEcho(event, m, db: db, options: options, now: now, outcome: &outcome)
        case .message(let m):
            let text = m.text
            let attachments = m.attachments.isEmpty ? nil : String(decoding: (try? JSONEncoder.compact.encode(m.attachments)) ?? Data(), as: UTF8.self)
            let replyToStory = m.replyToStoryURL ?? m.replyToStoryId
            let kind = MessageKind.of(
                attachments: m.attachments, storyReply: replyToStory != nil, quickReplyPayload: m.quickReplyPayload,
                isUnsupported: m.isUnsupported)
            let inserted = try insertInbound(
                db, mid: m.mid, thread: event.senderId, text: text, attachments: attachments, attachmentList: m.attachments,
                replyToMid: m.replyToMid,
                replyToStory: replyToStory, payload: m.quickReplyPayload, kind: kind, event: event, now: now,
                unsupported: m.isUnsupported, outcome: &outcome)
            if inserted, let text, !text.isEmpty {
                outcome.context.append(ContextTurn(customer: event.senderId, role: .user, text: text))
            }
        case .postback(let p):
            _ = try insertInbound(
                db, mid: p.mid, thread: event.senderId, text: p.title, attachments: nil, attachmentList: [], replyToMid: nil,
                replyToStory: nil,
                payload: p.payload, kind: .postback, event: event, now: now, unsupported: false, outcome: &outcome)
        case .reaction(let r):
            let value: [String] = r.reaction.map { [$0] } ?? []
            let encoded = String(decoding: (try? JSONEncoder.compact.encode(value)) ?? Data(), as: UTF8.self)
            try updateMessage(db, mid: r.mid, outcome: &outcome, raw: event, eventType: EventType.reaction,
                              eventData: ["mid": .string(r.mid), "reaction": r.reaction.map { .string($0) } ?? .null, "emoji": r.emoji.map { .string($0) } ?? .null]) {
                $0.reactions = value.isEmpty ? nil : encoded
            }
        case .read(let mid, let watermark):
            try applyRead(event, mid: mid, watermark: watermark, db: db, outcome: &outcome)
        case .edit(let e):
            try updateMessage(db, mid: e.mid, outcome: &outcome, raw: event) {
                $0.text = e.text
                $0.edited = true
            }
        case .comment(let c):
            try applyComment(event, c, db: db, now: now, outcome: &outcome)
        case .invalid(let reason):
            outcome.events.append(try journalInvalid(event, reason: reason, db: db))
        case .unknown(let name):
            outcome.events.append(
                try journal(db, type: EventType.unknown, thread: event.customerId.isEmpty ? nil : event.customerId,
                            data: ["kind": .string(name), "source": .string(event.source.rawValue), "raw": event.raw]))
        }
    }

    /// Inserts an inbound message keyed by `mid`; a redelivery changes nothing and journals nothing.
    static func insertInbound(
        _ db: Database, mid: String, thread: String, text: String?, attachments: String?, attachmentList: [Attachment],
        replyToMid: String?,
        replyToStory: String?, payload: String?, kind: MessageKind, event: WebhookEvent, now: EpochMillis, unsupported: Bool,
        outcome: inout IngestOutcome
    ) throws -> Bool {
        guard !thread.isEmpty else { throw StoreError.invalid("event \(mid) has no sender id") }
        try ensureThread(db, id: thread, now: now)
        // Standby events belong to a thread another app controls: keep them, but the bot must not answer.
        let status: ProcessingStatus = event.source == .standby ? .processed : .pending
        try db.cachedStatement(
            sql: """
                INSERT INTO messages(mid, thread_id, direction, author, text, attachments, reply_to_mid, reply_to_story,
                                     payload, timestamp, source, status, created_at, error, kind)
                VALUES (?, ?, 'in', 'customer', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(mid) DO NOTHING
                """
        ).execute(arguments: [
            mid, thread, text, attachments, replyToMid, replyToStory, payload, event.timestamp, MessageSource(event.source),
            status, now, unsupported ? "unsupported message type" : nil, kind,
        ])
        guard db.changesCount > 0 else {
            outcome.duplicates += 1
            return false
        }
        outcome.storedMessages += 1
        let preview = MessageKind.preview(text: text, attachments: attachmentList, kind: kind)
        try db.cachedStatement(
            sql: """
                UPDATE threads SET unread = unread + 1,
                    last_inbound_at = MAX(COALESCE(last_inbound_at, 0), ?1),
                    last_message_at = MAX(COALESCE(last_message_at, 0), ?1),
                    last_text = CASE WHEN ?1 >= COALESCE(last_message_at, 0) THEN ?2 ELSE last_text END,
                    status = CASE WHEN status IN ('resolved', 'snoozed') THEN 'open' ELSE status END,
                    snoozed_until = NULL,
                    snooze_ended_at = CASE WHEN status = 'snoozed' THEN ?3 ELSE snooze_ended_at END,
                    awaiting_operator = CASE WHEN mode = 'human' THEN 1 ELSE awaiting_operator END,
                    updated_at = ?3
                WHERE id = ?4
                """
        ).execute(arguments: [event.timestamp, preview, now, thread])
        if status == .pending { outcome.threadsToProcess.insert(thread) }
        // The row just inserted, as MessageRecord.view would read it back (the other columns are NULL or 0 on a
        // fresh inbound row), without a second query.
        let quote = try replyToMid.flatMap { try quotes(of: [$0], db: db)[$0] }
        let view = MessageView(
            id: mid, thread: thread, mid: mid, direction: .inbound, author: .customer, text: text, attachments: attachmentList,
            timestamp: event.timestamp, error: unsupported ? "unsupported message type" : nil, replyToStory: replyToStory,
            kind: kind, replyToMid: replyToMid, replyToText: quote?.text, replyToUnsent: quote?.unsent == true ? true : nil,
            payload: payload)
        outcome.events.append(try journal(db, type: EventType.messageReceived, thread: thread, data: JSONValue(view)))
        if let summary = try threadSummary(db, id: thread) {
            outcome.events.append(try journal(db, type: EventType.threadUpdated, thread: thread, data: JSONValue(summary)))
        }
        return true
    }

    static func ensureThread(_ db: Database, id: String, now: EpochMillis) throws {
        // Nearly always the thread exists already: one lookup instead of two upserts.
        let exists = try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM threads WHERE id = ?)"), arguments: [id]) ?? false
        if exists { return }
        try db.cachedStatement(sql: "INSERT INTO profiles(id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING")
            .execute(arguments: [id, now, now])
        try db.cachedStatement(sql: "INSERT INTO threads(id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING")
            .execute(arguments: [id, now, now])
    }

    static func applyEcho(
        _ event: WebhookEvent, _ m: InboundMessage, db: Database, options: IngestOptions, now: EpochMillis,
        outcome: inout IngestOutcome
    ) throws {
        // Our own Send API messages come back as echoes carrying the id Meta gave them: nothing new.
        let ours = try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS(SELECT 1 FROM messages WHERE mid = ?1 OR remote_mid = ?1) OR EXISTS(SELECT 1 FROM outbound_messages WHERE remote_message_id = ?1)"),
            arguments: [m.mid]) ?? false
        if ours {
            outcome.duplicates += 1
            return
        }
        // Or the echo of a send whose result is not recorded yet (or whose daemon died mid-call): not typed in the app.
        if let events = try matchEchoToInFlightSend(
            db, recipient: event.recipientId, text: m.text, attachmentType: m.attachments.first?.type, at: event.timestamp, mid: m.mid) {
            outcome.events += events
            outcome.duplicates += 1
            return
        }
        let thread = event.recipientId
        guard !thread.isEmpty else { throw StoreError.invalid("echo \(m.mid) has no recipient id") }
        try ensureThread(db, id: thread, now: now)
        let attachments = m.attachments.isEmpty ? nil : String(decoding: (try? JSONEncoder.compact.encode(m.attachments)) ?? Data(), as: UTF8.self)
        try db.cachedStatement(
            sql: """
                INSERT INTO messages(mid, thread_id, direction, author, text, attachments, timestamp, source, delivery,
                                     remote_mid, created_at)
                VALUES (?, ?, 'out', 'operator', ?, ?, ?, ?, 'sent', ?, ?)
                ON CONFLICT(mid) DO NOTHING
                """
        ).execute(arguments: [m.mid, thread, m.text, attachments, event.timestamp, MessageSource(event.source), m.mid, now])
        guard db.changesCount > 0 else {
            outcome.duplicates += 1
            return
        }
        outcome.storedMessages += 1
        let takeover = options.echoTakeover
        try db.cachedStatement(
            sql: """
                UPDATE threads SET last_message_at = MAX(COALESCE(last_message_at, 0), ?1),
                    last_text = CASE WHEN ?1 >= COALESCE(last_message_at, 0) THEN ?2 ELSE last_text END,
                    mode = CASE WHEN ?3 THEN 'human' ELSE mode END,
                    awaiting_operator = 0, updated_at = ?4
                WHERE id = ?5
                """
        ).execute(arguments: [event.timestamp, m.text ?? "[attachment]", takeover, now, thread])
        if let text = m.text, !text.isEmpty {
            outcome.context.append(ContextTurn(customer: thread, role: .assistant, text: text))
        }
        let view = try MessageRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM messages WHERE mid = ?"), arguments: [m.mid])!.view
        outcome.events.append(try journal(db, type: EventType.messageSent, thread: thread, data: JSONValue(view)))
        if let summary = try threadSummary(db, id: thread) {
            outcome.events.append(try journal(db, type: EventType.threadUpdated, thread: thread, data: JSONValue(summary)))
        }
    }

    /// Applies a change to the message an event names; journals only when something actually changed.
    static func updateMessage(
        _ db: Database, mid: String, outcome: inout IngestOutcome, raw: WebhookEvent, eventType: String = EventType.messageUpdated,
        eventData: JSONValue? = nil, _ change: (inout MessageRecord) -> Void
    ) throws {
        let record = try MessageRecord.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM messages WHERE mid = ?1 OR remote_mid = ?1 LIMIT 1"), arguments: [mid])
        guard var record else {
            // The message it names is not ours to change (sent before dmdesk ran): keep the event, raw.
            outcome.events.append(
                try journal(db, type: EventType.unknown, thread: raw.customerId,
                            data: ["kind": "orphan", "mid": .string(mid), "raw": raw.raw]))
            return
        }
        let before = record
        change(&record)
        guard record != before else {
            outcome.duplicates += 1
            return
        }
        try record.update(db)
        outcome.events.append(
            try journal(db, type: eventType, thread: record.thread_id, data: eventData ?? .from(record.view)))
        if eventType != EventType.messageUpdated {
            outcome.events.append(try journal(db, type: EventType.messageUpdated, thread: record.thread_id, data: .from(record.view)))
        }
    }

    static func applyRead(_ event: WebhookEvent, mid: String?, watermark: EpochMillis?, db: Database, outcome: inout IngestOutcome) throws {
        let thread = event.senderId
        var upTo = watermark
        if let mid {
            upTo = try EpochMillis.fetchOne(
                db.cachedStatement(sql: "SELECT timestamp FROM messages WHERE mid = ?1 OR remote_mid = ?1"), arguments: [mid]) ?? upTo
        }
        guard let upTo else {
            outcome.events.append(try journal(db, type: EventType.unknown, thread: thread, data: ["kind": "read", "raw": event.raw]))
            return
        }
        try db.cachedStatement(
            sql: "UPDATE messages SET read = 1 WHERE thread_id = ? AND direction = 'out' AND read = 0 AND timestamp <= ?"
        ).execute(arguments: [thread, upTo])
        guard db.changesCount > 0 else {
            outcome.duplicates += 1
            return
        }
        outcome.events.append(
            try journal(db, type: EventType.read, thread: thread,
                        data: ["mid": mid.map { .string($0) } ?? .null, "watermark": .number(Double(upTo))]))
    }
}
