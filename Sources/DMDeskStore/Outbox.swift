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

extension Store {
    /// Writes the outbox row (and, for a DM, its line in the conversation) in one transaction.
    public func enqueue(_ draft: OutboundDraft, in db: Database) throws -> OutboxChange {
        let now = nowMillis()
        var record = OutboundRecord(
            id: nil, thread_id: draft.thread, recipient: draft.recipient, kind: draft.kind.rawValue,
            channel: draft.channel.rawValue, payload: draft.payload.encodedString(), text: draft.text, status: "pending",
            attempts: 0, remote_message_id: nil, error: nil, author: draft.author.rawValue, message_mid: nil,
            created_at: now, updated_at: now)
        try record.insert(db)
        var events: [JournalEvent] = []
        if draft.showsInThread, let thread = draft.thread {
            let mid = "out:\(record.id!)"
            record.message_mid = mid
            try record.update(db)
            try Self.ensureThread(db, id: thread, now: now)
            let message = MessageRecord(
                mid: mid, thread_id: thread, direction: "out", author: draft.author.rawValue, text: draft.text,
                attachments: nil, reply_to_mid: nil, reply_to_story: nil, payload: nil, timestamp: now, source: "dmdesk",
                status: nil, attempts: 0, next_attempt_at: nil, error: nil, reactions: nil, read: false, deleted: false,
                edited: false, outbound_id: record.id, delivery: "pending", remote_mid: nil, created_at: now)
            try message.insert(db)
            try db.execute(
                sql: """
                    UPDATE threads SET last_message_at = MAX(COALESCE(last_message_at, 0), ?), last_text = ?, updated_at = ?
                    WHERE id = ?
                    """, arguments: [now, draft.text, now, thread])
            events.append(try Self.journal(db, type: EventType.messageSent, thread: thread, data: .from(message.view)))
            if let summary = try Self.threadSummary(db, id: thread) {
                events.append(try Self.journal(db, type: EventType.threadUpdated, thread: thread, data: .from(summary)))
            }
        }
        events.append(try Self.journal(db, type: EventType.outboundUpdated, thread: draft.thread, data: .from(record.view)))
        return OutboxChange(record: record, events: events)
    }

    public func enqueue(_ draft: OutboundDraft) throws -> OutboxChange {
        try pool.write { db in try self.enqueue(draft, in: db) }
    }

    public func outbound(id: Int64) throws -> OutboundRecord? {
        try pool.read { db in try OutboundRecord.fetchOne(db, key: id) }
    }

    /// Rows still to send, oldest first: what start-up resumes.
    public func pendingOutbound() throws -> [OutboundRecord] {
        try pool.read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE status = 'pending' ORDER BY id")
        }
    }

    public func outboundFor(thread: String) throws -> [OutboundRecord] {
        try pool.read { db in
            try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages WHERE thread_id = ? ORDER BY id", arguments: [thread])
        }
    }

    /// Records an attempt's result; the conversation line follows the outbox row's status.
    public func finishOutbound(
        id: Int64, status: OutboundStatus, attempts: Int, remoteId: String? = nil, error: String? = nil
    ) throws -> OutboxChange {
        try pool.write { db in
            guard var record = try OutboundRecord.fetchOne(db, key: id) else { throw StoreError.notFound("outbound \(id)") }
            record.status = status.rawValue
            record.attempts = attempts
            record.remote_message_id = remoteId ?? record.remote_message_id
            record.error = error
            record.updated_at = nowMillis()
            try record.update(db)
            var events: [JournalEvent] = []
            if let mid = record.message_mid, var message = try MessageRecord.fetchOne(db, key: mid) {
                message.delivery = status.rawValue
                message.error = error
                message.remote_mid = remoteId ?? message.remote_mid
                try message.update(db)
                events.append(try Self.journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: .from(message.view)))
            }
            if status == .sent, record.kind == OutboundKind.reaction.rawValue,
                let target = (try? JSONValue.parse(Data(record.payload.utf8)))?["mid"]?.stringValue,
                var message = try MessageRecord.fetchOne(db, sql: "SELECT * FROM messages WHERE mid = ?1 OR remote_mid = ?1", arguments: [target])
            {
                let reaction = (try? JSONValue.parse(Data(record.payload.utf8)))?["reaction"]?.stringValue
                message.reactions = reaction.map { "[\(jsonString($0))]" }
                try message.update(db)
                events.append(try Self.journal(db, type: EventType.messageUpdated, thread: message.thread_id, data: .from(message.view)))
            }
            events.append(try Self.journal(db, type: EventType.outboundUpdated, thread: record.thread_id, data: .from(record.view)))
            return OutboxChange(record: record, events: events)
        }
    }

    /// Puts a failed row back in the queue (the console's `R`).
    public func retryOutbound(id: Int64) throws -> OutboxChange {
        try pool.write { db in
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
