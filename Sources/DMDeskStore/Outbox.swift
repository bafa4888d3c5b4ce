import DMDeskCore
import Foundation
import GRDB

/// A request to send something: becomes an `outbound_messages` row (pending) before any network call.
public struct OutboundDraft: Sendable {
    public var thread: String?
    public var recipient: String
    public var kind: OutboundKind
    public var channel: OutboundChannel
    public var text: String?
    public var payload: JSONValue
    public var author: MessageAuthor

    public init(
        thread: String?, recipient: String, kind: OutboundKind, channel: OutboundChannel = .instagram, text: String?,
        payload: JSONValue = [:], author: MessageAuthor
    ) {
        self.thread = thread
        self.recipient = recipient
        self.kind = kind
        self.channel = channel
        self.text = text
        self.payload = payload
        self.author = author
    }

    /// Texts we send into an Instagram thread appear in the conversation; reactions and WhatsApp pings do not.
    var showsInThread: Bool { channel == .instagram && kind != .reaction && thread != nil }
}

public struct OutboxChange: Sendable {
    public var record: OutboundRecord
    public var events: [JournalEvent]
}

/// One send attempt's result, for `finishOutbound(_:)`.
public struct OutboundResult: Sendable {
    public var id: Int64
    public var status: OutboundStatus
    public var attempts: Int
    public var remoteId: String?
    public var error: String?

    public init(id: Int64, status: OutboundStatus, attempts: Int, remoteId: String? = nil, error: String? = nil) {
        self.id = id
        self.status = status
        self.attempts = attempts
        self.remoteId = remoteId
        self.error = error
    }
}

extension JSONValue {
    /// What `JSONValue.from(view)` returns for an outbox row (synthesized Codable keys, nil optionals left out).
    init(_ v: OutboundView) {
        var o: [String: JSONValue] = [
            "id": .number(Double(v.id)), "kind": .string(v.kind.rawValue), "channel": .string(v.channel.rawValue),
            "status": .string(v.status.rawValue), "attempts": .number(Double(v.attempts)),
            "author": .string(v.author.rawValue), "createdAt": .number(Double(v.createdAt)),
        ]
        if let thread = v.thread { o["thread"] = .string(thread) }
        if let text = v.text { o["text"] = .string(text) }
        if let error = v.error { o["error"] = .string(error) }
        if let remoteId = v.remoteId { o["remoteId"] = .string(remoteId) }
        self = .object(o)
    }
}

extension Store {
    /// The columns of `OutboundRecord`, in its order (for RETURNING and SELECT).
    static let outboundColumns = """
        id, thread_id, recipient, kind, channel, payload, text, status, attempts, remote_message_id, error, author,
        message_mid, created_at, updated_at, sending_at
        """

    static func outboundRecord(_ row: Row) -> OutboundRecord {
        OutboundRecord(
            id: row[0], thread_id: row[1], recipient: row[2], kind: row[3], channel: row[4], payload: row[5], text: row[6],
            status: row[7], attempts: row[8], remote_message_id: row[9], error: row[10], author: row[11], message_mid: row[12],
            created_at: row[13], updated_at: row[14], sending_at: row[15])
    }

    /// The columns of `MessageRecord`, in its order.
    static let messageColumns = """
        mid, thread_id, direction, author, text, attachments, reply_to_mid, reply_to_story, payload, timestamp, source,
        status, attempts, next_attempt_at, error, reactions, read, deleted, edited, outbound_id, delivery, remote_mid,
        created_at
        """

    static func messageRecord(_ row: Row) -> MessageRecord {
        MessageRecord(
            mid: row[0], thread_id: row[1], direction: row[2], author: row[3], text: row[4], attachments: row[5],
            reply_to_mid: row[6], reply_to_story: row[7], payload: row[8], timestamp: row[9], source: row[10], status: row[11],
            attempts: row[12], next_attempt_at: row[13], error: row[14], reactions: row[15], read: row[16], deleted: row[17],
            edited: row[18], outbound_id: row[19], delivery: row[20], remote_mid: row[21], created_at: row[22])
    }

    /// Writes the outbox row (and, for a DM, its line in the conversation) in one transaction.
    public func enqueue(_ draft: OutboundDraft, in db: Database) throws -> OutboxChange {
        try enqueue(draft, in: db, threadExists: false)
    }

    /// `threadExists`: the caller knows the draft's thread row exists (the processor, which claimed its messages).
    /// `inFlight`: the row is committed `sending` at once, because the caller hands it straight to the in-process
    /// outbox worker and nobody else (the processor's replies, the agent's actions): one write instead of two, and
    /// a crash before the call still leaves it in doubt, to be reconciled, never silently pending.
    func enqueue(_ draft: OutboundDraft, in db: Database, threadExists: Bool, inFlight: Bool = false) throws -> OutboxChange {
        let now = nowMillis()
        let status = inFlight ? "sending" : "pending"
        let sendingAt: EpochMillis? = inFlight ? now : nil
        var record = OutboundRecord(
            id: nil, thread_id: draft.thread, recipient: draft.recipient, kind: draft.kind.rawValue,
            channel: draft.channel.rawValue, payload: draft.payload.compactString, text: draft.text, status: status,
            attempts: 0, remote_message_id: nil, error: nil, author: draft.author.rawValue, message_mid: nil,
            created_at: now, updated_at: now, sending_at: sendingAt)
        try db.cachedStatement(
            sql: """
                INSERT INTO outbound_messages(thread_id, recipient, kind, channel, payload, text, status, attempts, author,
                                              created_at, updated_at, sending_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            record.thread_id, record.recipient, record.kind, record.channel, record.payload, record.text, status, record.author,
            now, now, sendingAt,
        ])
        let id = db.lastInsertedRowID
        record.id = id
        var events: [JournalEvent] = []
        if draft.showsInThread, let thread = draft.thread {
            let mid = "out:\(id)"
            record.message_mid = mid
            try db.cachedStatement(sql: "UPDATE outbound_messages SET message_mid = ? WHERE id = ?").execute(arguments: [mid, id])
            if !threadExists { try Self.ensureThread(db, id: thread, now: now) }
            try db.cachedStatement(
                sql: """
                    INSERT INTO messages(mid, thread_id, direction, author, text, timestamp, source, attempts, read, deleted,
                                         edited, outbound_id, delivery, created_at)
                    VALUES (?, ?, 'out', ?, ?, ?, 'dmdesk', 0, 0, 0, 0, ?, 'pending', ?)
                    """
            ).execute(arguments: [mid, thread, record.author, draft.text, now, id, now])
            // The thread's summary comes back from the UPDATE itself (the columns of `Store.summarySQL`).
            let summaryRow = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE threads SET last_message_at = MAX(COALESCE(last_message_at, 0), ?1), last_text = ?2, updated_at = ?1
                        WHERE id = ?3
                        RETURNING id, (SELECT username FROM profiles WHERE profiles.id = threads.id),
                            (SELECT name FROM profiles WHERE profiles.id = threads.id), mode, status, assignee, unread,
                            awaiting_operator, last_text, last_message_at, last_inbound_at,
                            (SELECT connected FROM profiles WHERE profiles.id = threads.id)
                        """),
                arguments: [now, draft.text, thread])
            // The row just inserted, as MessageRecord.view reads it back.
            let view = MessageView(
                id: mid, thread: thread, mid: nil, direction: .outbound, author: draft.author, text: draft.text,
                attachments: [], timestamp: now, delivery: .pending, error: nil, reactions: [], replyToStory: nil,
                deleted: false, edited: false, outboundId: id)
            events.append(try Self.journal(db, type: EventType.messageSent, thread: thread, data: JSONValue(view)))
            if let summary = summaryRow.map(Self.summary) {
                events.append(try Self.journal(db, type: EventType.threadUpdated, thread: thread, data: JSONValue(summary)))
            }
        }
        events.append(try Self.journal(db, type: EventType.outboundUpdated, thread: draft.thread, data: JSONValue(record.view)))
        return OutboxChange(record: record, events: events)
    }

    public func enqueue(_ draft: OutboundDraft) throws -> OutboxChange {
        try write(.outbox) { db in try self.enqueue(draft, in: db) }
    }

    public func outbound(id: Int64) throws -> OutboundRecord? {
        try pool.read { db in try OutboundRecord.fetchOne(db, key: id) }
    }

    /// The status and attempt count of each of these rows (absent: no such row), in one read.
    public func outboundStatuses(_ ids: [Int64]) throws -> [Int64: (status: String, attempts: Int)] {
        guard !ids.isEmpty else { return [:] }
        return try pool.read { db in
            var out: [Int64: (status: String, attempts: Int)] = [:]
            let statement = try db.cachedStatement(sql: "SELECT status, attempts FROM outbound_messages WHERE id = ?")
            for id in ids {
                if let row = try Row.fetchOne(statement, arguments: [id]) { out[id] = (row[0], row[1]) }
            }
            return out
        }
    }

    /// Rows still to send, oldest first: what start-up resumes.
    public func pendingOutbound() throws -> [OutboundRecord] {
        try pool.read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE status = 'pending' ORDER BY id")
        }
    }

    /// Rows left `sending` by a previous run, oldest first: each may or may not have reached Meta.
    public func inDoubtOutbound() throws -> [OutboundRecord] {
        try pool.read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE status = 'sending' ORDER BY id")
        }
    }

    /// What marking a row in flight found.
    public enum SendingMark: Sendable {
        /// The row was pending and is now `sending` (committed): send it.
        case marked(OutboundRecord)
        /// The row is not pending (already sent, failed, in flight elsewhere) or does not exist: do not send it.
        case notPending
    }

    /// Marks pending rows `sending` with the time, each in its own savepoint of one transaction (group commit).
    public func markSending(_ ids: [Int64], now: EpochMillis = nowMillis()) -> [Result<SendingMark, Error>] {
        writeEach(ids, as: .outbox) { id, db in try Self.markSending(id, db: db, now: now) }
    }

    static func markSending(_ id: Int64, db: Database, now: EpochMillis) throws -> SendingMark {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    UPDATE outbound_messages SET status = 'sending', sending_at = ?1, updated_at = ?1
                    WHERE id = ?2 AND status = 'pending'
                    RETURNING \(outboundColumns)
                    """),
            arguments: [now, id])
        return row.map { .marked(outboundRecord($0)) } ?? .notPending
    }

    /// Before an in-doubt row is sent again: still `sending` (no echo proved it meanwhile)? Then its sending time
    /// becomes now, so a later echo is matched against this attempt. Nil: it is no longer in doubt.
    public func renewSending(_ id: Int64, now: EpochMillis = nowMillis()) throws -> OutboundRecord? {
        try write(.outbox) { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE outbound_messages SET sending_at = ?1, updated_at = ?1 WHERE id = ?2 AND status = 'sending'
                        RETURNING \(Self.outboundColumns)
                        """),
                arguments: [now, id]
            ).map(Self.outboundRecord)
        }
    }

    public func outboundFor(thread: String) throws -> [OutboundRecord] {
        try pool.read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE thread_id = ? ORDER BY id", arguments: [thread])
        }
    }

    /// Proof that an in-flight row reached Meta (its echo, or the Conversations API): it becomes `sent` with Meta's
    /// id and its conversation line follows. Nil when the row is not `sending` or `failed` (nothing to prove).
    public func provenSent(id: Int64, remoteId: String) throws -> OutboxChange? {
        try write(.outbox) { db in try Self.provenSent(id: id, remoteId: remoteId, db: db) }
    }

    static func provenSent(id: Int64, remoteId: String, db: Database) throws -> OutboxChange? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE outbound_messages SET status = 'sent', attempts = attempts + 1, remote_message_id = ?1,
                            error = NULL, updated_at = ?2
                        WHERE id = ?3 AND status IN ('sending', 'failed')
                        RETURNING \(outboundColumns)
                        """),
                arguments: [remoteId, nowMillis(), id])
        else { return nil }
        let record = outboundRecord(row)
        return try recordOutcome(record, OutboundResult(id: id, status: .sent, attempts: record.attempts, remoteId: remoteId), db: db)
    }

    /// Records an attempt's result; the conversation line follows the outbox row's status.
    public func finishOutbound(
        id: Int64, status: OutboundStatus, attempts: Int, remoteId: String? = nil, error: String? = nil
    ) throws -> OutboxChange {
        try finishOutbound([OutboundResult(id: id, status: status, attempts: attempts, remoteId: remoteId, error: error)])[0].get()
    }

    /// Records many attempts' results in one transaction (group commit), each in its own savepoint, so one bad row
    /// cannot undo the others. Results come back in the same order.
    public func finishOutbound(_ results: [OutboundResult]) -> [Result<OutboxChange, Error>] {
        writeEach(results, as: .outbox) { result, db in try Self.finishOutbound(result, db: db) }
    }

    static func finishOutbound(_ result: OutboundResult, db: Database) throws -> OutboxChange {
        let now = nowMillis()
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE outbound_messages SET status = ?, attempts = ?, remote_message_id = COALESCE(?, remote_message_id),
                            error = ?, updated_at = ?
                        WHERE id = ? AND status <> 'sent'
                        RETURNING \(outboundColumns)
                        """),
                arguments: [result.status.rawValue, result.attempts, result.remoteId, result.error, now, result.id])
        else {
            // Already proven sent (its echo came first, or the Conversations API showed it): a late result — even a
            // failure, say an HTTP timeout after Meta had accepted it — changes nothing.
            guard let current = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(outboundColumns) FROM outbound_messages WHERE id = ?"), arguments: [result.id])
            else { throw StoreError.notFound("outbound \(result.id)") }
            return OutboxChange(record: outboundRecord(current), events: [])
        }
        return try recordOutcome(outboundRecord(row), result, db: db)
    }

    /// The rest of a finished row: its conversation line follows its status, a sent reaction shows on its message,
    /// and the changes are journaled.
    static func recordOutcome(_ record: OutboundRecord, _ result: OutboundResult, db: Database) throws -> OutboxChange {
        var events: [JournalEvent] = []
        if let mid = record.message_mid,
            let messageRow = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE messages SET delivery = ?, error = ?, remote_mid = COALESCE(?, remote_mid) WHERE mid = ?
                        RETURNING \(messageColumns)
                        """),
                arguments: [result.status.rawValue, result.error, result.remoteId, mid])
        {
            let message = messageRecord(messageRow)
            events.append(try journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: JSONValue(message.view)))
        }
        if result.status == .sent, record.kind == OutboundKind.reaction.rawValue,
            let target = (try? JSONValue.parse(Data(record.payload.utf8)))?["mid"]?.stringValue,
            var message = try MessageRecord.fetchOne(db, sql: "SELECT * FROM messages WHERE mid = ?1 OR remote_mid = ?1", arguments: [target])
        {
            let reaction = (try? JSONValue.parse(Data(record.payload.utf8)))?["reaction"]?.stringValue
            message.reactions = reaction.map { "[\(JSONValue.quote($0))]" }
            try message.update(db)
            events.append(try journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: .from(message.view)))
        }
        events.append(try journal(db, type: EventType.outboundUpdated, thread: record.thread_id, data: JSONValue(record.view)))
        return OutboxChange(record: record, events: events)
    }

    /// Puts a failed row back in the queue (the console's `R`).
    public func retryOutbound(id: Int64) throws -> OutboxChange {
        try write(.outbox) { db in
            guard var record = try OutboundRecord.fetchOne(db, key: id) else { throw StoreError.notFound("outbound \(id)") }
            guard record.status == "failed" else { throw StoreError.invalid("outbound \(id) is \(record.status), not failed") }
            record.status = "pending"
            record.error = nil
            record.updated_at = nowMillis()
            try record.update(db)
            var events: [JournalEvent] = []
            if let mid = record.message_mid, var message = try MessageRecord.fetchOne(db, key: mid) {
                message.delivery = "pending"
                message.error = nil
                try message.update(db)
                events.append(try Self.journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: .from(message.view)))
            }
            events.append(try Self.journal(db, type: EventType.outboundUpdated, thread: record.thread_id, data: .from(record.view)))
            return OutboxChange(record: record, events: events)
        }
    }
}
