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
    /// Media by URL: the row sends `message.attachment` instead of `text` (which is then nil).
    public var attachment: OutgoingAttachment?

    public init(
        thread: String?, recipient: String, kind: OutboundKind, channel: OutboundChannel = .instagram, text: String?,
        payload: JSONValue = [:], author: MessageAuthor, attachment: OutgoingAttachment? = nil
    ) {
        self.thread = thread
        self.recipient = recipient
        self.kind = kind
        self.channel = channel
        self.text = text
        self.payload = payload
        self.author = author
        self.attachment = attachment
    }

    /// The thread list's preview of this message: its text, or "[image]" for media.
    var preview: String? { text ?? attachment.map { "[\($0.type.rawValue)]" } }

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
        if let a = v.attachment { o["attachment"] = ["type": .string(a.type.rawValue), "url": .string(a.url)] }
        self = .object(o)
    }
}

extension SQLiteStore {
    public func enqueue(_ drafts: [OutboundDraft], takeOver: Bool) async throws -> [OutboxChange] {
        // An operator's reply over the control socket takes the thread over: an operator command, for write health.
        try await write(takeOver ? .commands : .outbox) { db in
            try drafts.map { draft in
                if takeOver, let thread = draft.thread {
                    // Replying by hand takes the thread over, so the bot does not answer over the operator.
                    try db.cachedStatement(sql: "UPDATE threads SET mode = 'human', awaiting_operator = 0 WHERE id = ?")
                        .execute(arguments: [thread])
                }
                return try Self.enqueue(draft, in: db, threadExists: false)
            }
        }
    }

    /// Writes the outbox row (and, for a DM, its line in the conversation) inside the caller's transaction.
    /// `threadExists`: the caller knows the draft's thread row exists (the processor, which claimed its messages).
    /// `inFlight`: the row is committed `sending` at once, because the caller hands it straight to the in-process
    /// outbox worker and nobody else (the processor's replies, the agent's actions): one write instead of two, and
    /// a crash before the call still leaves it in doubt, to be reconciled, never silently pending.
    static func enqueue(_ draft: OutboundDraft, in db: Database, threadExists: Bool, inFlight: Bool = false) throws -> OutboxChange {
        let now = nowMillis()
        let status: OutboundRecord.Status = inFlight ? .sending : .pending
        let sendingAt: EpochMillis? = inFlight ? now : nil
        var record = OutboundRecord(
            id: nil, thread_id: draft.thread, recipient: draft.recipient, kind: draft.kind, channel: draft.channel,
            payload: draft.payload.compactString, text: draft.text, status: status, attempts: 0, remote_message_id: nil,
            error: nil, author: draft.author, message_mid: nil, created_at: now, updated_at: now, sending_at: sendingAt,
            attachment_type: draft.attachment?.type, attachment_url: draft.attachment?.url)
        try db.cachedStatement(
            sql: """
                INSERT INTO outbound_messages(thread_id, recipient, kind, channel, payload, text, status, attempts, author,
                                              created_at, updated_at, sending_at, attachment_type, attachment_url)
                VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            record.thread_id, record.recipient, record.kind, record.channel, record.payload, record.text, status, record.author,
            now, now, sendingAt, record.attachment_type, record.attachment_url,
        ])
        let id = db.lastInsertedRowID
        record.id = id
        var events: [JournalEvent] = []
        if draft.showsInThread, let thread = draft.thread {
            let mid = "out:\(id)"
            record.message_mid = mid
            try db.cachedStatement(sql: "UPDATE outbound_messages SET message_mid = ? WHERE id = ?").execute(arguments: [mid, id])
            if !threadExists { try ensureThread(db, id: thread, now: now) }
            let attachments = draft.attachment.map { [Attachment(type: $0.type.rawValue, url: $0.url)] } ?? []
            let attachmentsJSON = attachments.isEmpty
                ? nil : String(decoding: (try? JSONEncoder.compact.encode(attachments)) ?? Data(), as: UTF8.self)
            try db.cachedStatement(
                sql: """
                    INSERT INTO messages(mid, thread_id, direction, author, text, attachments, timestamp, source, attempts, read,
                                         deleted, edited, outbound_id, delivery, created_at)
                    VALUES (?, ?, 'out', ?, ?, ?, ?, 'dmdesk', 0, 0, 0, 0, ?, 'pending', ?)
                    """
            ).execute(arguments: [mid, thread, record.author, draft.text, attachmentsJSON, now, id, now])
            // The thread's summary comes back from the UPDATE itself (the columns of `summarySQL`, by name).
            let summary = try ThreadSummary.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE threads SET last_message_at = MAX(COALESCE(last_message_at, 0), ?1), last_text = ?2, updated_at = ?1
                        WHERE id = ?3
                        RETURNING id, (SELECT username FROM profiles WHERE profiles.id = threads.id) AS username,
                            (SELECT name FROM profiles WHERE profiles.id = threads.id) AS name, mode, status, assignee, unread,
                            awaiting_operator, last_text, last_message_at, last_inbound_at,
                            (SELECT connected FROM profiles WHERE profiles.id = threads.id) AS connected
                        """),
                arguments: [now, draft.preview, thread])
            // The row just inserted, as MessageRecord.view reads it back.
            let view = MessageView(
                id: mid, thread: thread, mid: nil, direction: .outbound, author: draft.author, text: draft.text,
                attachments: attachments, timestamp: now, delivery: .pending, error: nil, reactions: [], replyToStory: nil,
                deleted: false, edited: false, outboundId: id)
            events.append(try journal(db, type: EventType.messageSent, thread: thread, data: JSONValue(view)))
            if let summary {
                events.append(try journal(db, type: EventType.threadUpdated, thread: thread, data: JSONValue(summary)))
            }
        }
        events.append(try journal(db, type: EventType.outboundUpdated, thread: draft.thread, data: JSONValue(record.view)))
        return OutboxChange(record: record, events: events)
    }

    public func outbound(id: Int64) async throws -> OutboundRecord? {
        try await read { db in try OutboundRecord.fetchOne(db, key: id) }
    }

    public func outboundStatuses(_ ids: [Int64]) async throws -> [Int64: (status: OutboundRecord.Status, attempts: Int)] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            var out: [Int64: (status: OutboundRecord.Status, attempts: Int)] = [:]
            let statement = try db.cachedStatement(sql: "SELECT status, attempts FROM outbound_messages WHERE id = ?")
            for id in ids {
                let rows = try Row.fetchCursor(statement, arguments: [id])
                if let row = try rows.next() {
                    out[id] = (try row.decode(forColumn: "status"), try row.decode(forColumn: "attempts"))
                }
            }
            return out
        }
    }

    public func pendingOutbound() async throws -> [OutboundRecord] {
        try await read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE status = 'pending' ORDER BY id")
        }
    }

    public func inDoubtOutbound() async throws -> [OutboundRecord] {
        try await read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE status = 'sending' ORDER BY id")
        }
    }

    public func markSending(_ ids: [Int64], now: EpochMillis) async -> [Result<SendingMark, any Error>] {
        await writeEach(ids, as: .outbox) { id, db in try Self.markSending(id, db: db, now: now) }
    }

    static func markSending(_ id: Int64, db: Database, now: EpochMillis) throws -> SendingMark {
        let record = try OutboundRecord.fetchOne(
            db.cachedStatement(
                sql: """
                    UPDATE outbound_messages SET status = 'sending', sending_at = ?1, updated_at = ?1
                    WHERE id = ?2 AND status = 'pending'
                    RETURNING *
                    """),
            arguments: [now, id])
        return record.map { .marked($0) } ?? .notPending
    }

    public func renewSending(_ id: Int64, now: EpochMillis) async throws -> OutboundRecord? {
        try await write(.outbox) { db in
            try OutboundRecord.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE outbound_messages SET sending_at = ?1, updated_at = ?1 WHERE id = ?2 AND status = 'sending'
                        RETURNING *
                        """),
                arguments: [now, id])
        }
    }

    public func outbound(thread: String) async throws -> [OutboundRecord] {
        try await read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE thread_id = ? ORDER BY id", arguments: [thread])
        }
    }

    public func provenSent(id: Int64, remoteId: String) async throws -> OutboxChange? {
        try await write(.outbox) { db in try Self.provenSent(id: id, remoteId: remoteId, db: db) }
    }

    static func provenSent(id: Int64, remoteId: String, db: Database) throws -> OutboxChange? {
        guard
            let record = try OutboundRecord.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE outbound_messages SET status = 'sent', attempts = attempts + 1, remote_message_id = ?1,
                            error = NULL, updated_at = ?2
                        WHERE id = ?3 AND status IN ('sending', 'failed')
                        RETURNING *
                        """),
                arguments: [remoteId, nowMillis(), id])
        else { return nil }
        return try recordOutcome(record, OutboundResult(id: id, status: .sent, attempts: record.attempts, remoteId: remoteId), db: db)
    }

    public func finishOutbound(_ results: [OutboundResult]) async -> [Result<OutboxChange, any Error>] {
        await writeEach(results, as: .outbox) { result, db in try Self.finishOutbound(result, db: db) }
    }

    static func finishOutbound(_ result: OutboundResult, db: Database) throws -> OutboxChange {
        let now = nowMillis()
        guard
            let record = try OutboundRecord.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE outbound_messages SET status = ?, attempts = ?, remote_message_id = COALESCE(?, remote_message_id),
                            error = ?, updated_at = ?
                        WHERE id = ? AND status <> 'sent'
                        RETURNING *
                        """),
                arguments: [result.status, result.attempts, result.remoteId, result.error, now, result.id])
        else {
            // Already proven sent (its echo came first, or the Conversations API showed it): a late result — even a
            // failure, say an HTTP timeout after Meta had accepted it — changes nothing.
            guard let current = try OutboundRecord.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM outbound_messages WHERE id = ?"), arguments: [result.id])
            else { throw StoreError.notFound("outbound \(result.id)") }
            return OutboxChange(record: current, events: [])
        }
        return try recordOutcome(record, result, db: db)
    }

    /// The rest of a finished row: its conversation line follows its status, a sent reaction shows on its message,
    /// and the changes are journaled.
    static func recordOutcome(_ record: OutboundRecord, _ result: OutboundResult, db: Database) throws -> OutboxChange {
        var events: [JournalEvent] = []
        if let mid = record.message_mid,
            let message = try MessageRecord.fetchOne(
                db.cachedStatement(
                    sql: """
                        UPDATE messages SET delivery = ?, error = ?, remote_mid = COALESCE(?, remote_mid) WHERE mid = ?
                        RETURNING *
                        """),
                arguments: [result.status, result.error, result.remoteId, mid])
        {
            events.append(try journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: JSONValue(message.view)))
        }
        if result.status == .sent, record.kind == .reaction,
            let target = (try? JSONValue.parse(Data(record.payload.utf8)))?["mid"]?.stringValue,
            var message = try MessageRecord.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM messages WHERE mid = ?1 OR remote_mid = ?1"), arguments: [target])
        {
            let reaction = (try? JSONValue.parse(Data(record.payload.utf8)))?["reaction"]?.stringValue
            message.reactions = reaction.map { "[\(JSONValue.quote($0))]" }
            try message.update(db)
            events.append(try journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: .from(message.view)))
        }
        events.append(try journal(db, type: EventType.outboundUpdated, thread: record.thread_id, data: JSONValue(record.view)))
        events += try commentReplyOutcome(record, db: db)
        return OutboxChange(record: record, events: events)
    }

    public func retryOutbound(id: Int64) async throws -> OutboxChange {
        try await write(.outbox) { db in
            guard var record = try OutboundRecord.fetchOne(db, key: id) else { throw StoreError.notFound("outbound \(id)") }
            guard record.status == .failed else { throw StoreError.invalid("outbound \(id) is \(record.status.rawValue), not failed") }
            record.status = .pending
            record.error = nil
            record.updated_at = nowMillis()
            try record.update(db)
            var events: [JournalEvent] = []
            if let mid = record.message_mid, var message = try MessageRecord.fetchOne(db, key: mid) {
                message.delivery = .pending
                message.error = nil
                try message.update(db)
                events.append(try Self.journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: .from(message.view)))
            }
            events.append(try Self.journal(db, type: EventType.outboundUpdated, thread: record.thread_id, data: .from(record.view)))
            return OutboxChange(record: record, events: events)
        }
    }

    public func outboxCounts() async throws -> [OutboundRecord.Status: Int] {
        try await read { db in
            var out: [OutboundRecord.Status: Int] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT status, COUNT(*) AS n FROM outbound_messages GROUP BY 1")
            while let row = try rows.next() { out[try row.decode(forColumn: "status")] = try row.decode(forColumn: "n") }
            return out
        }
    }
}
