import DMDeskCore
import Foundation
import GRDB

// One Codable record per table, GRDB style. Column names match the SQL schema.

public struct ProfileRecord: Codable, Sendable, FetchableRecord, PersistableRecord, Equatable {
    public static let databaseTableName = "profiles"
    public var id: String
    public var username: String?
    public var name: String?
    public var picture: String?
    public var connected: Bool
    public var connected_at: EpochMillis?
    public var profile_fetched_at: EpochMillis?
    public var created_at: EpochMillis
    public var updated_at: EpochMillis
}

public struct ThreadRecord: Codable, Sendable, FetchableRecord, PersistableRecord, Equatable {
    public static let databaseTableName = "threads"
    public var id: String
    public var mode: String
    public var status: String
    public var assignee: String?
    public var unread: Int
    public var awaiting_operator: Bool
    public var last_inbound_at: EpochMillis?
    public var last_message_at: EpochMillis?
    public var last_text: String?
    public var created_at: EpochMillis
    public var updated_at: EpochMillis
}

public struct MessageRecord: Codable, Sendable, FetchableRecord, PersistableRecord, Equatable {
    public static let databaseTableName = "messages"
    public var mid: String
    public var thread_id: String
    public var direction: String
    public var author: String
    public var text: String?
    public var attachments: String?
    public var reply_to_mid: String?
    public var reply_to_story: String?
    public var payload: String?
    public var timestamp: EpochMillis
    public var source: String
    public var status: String?
    public var attempts: Int
    public var next_attempt_at: EpochMillis?
    public var error: String?
    public var reactions: String?
    public var read: Bool
    public var deleted: Bool
    public var edited: Bool
    public var outbound_id: Int64?
    public var delivery: String?
    public var remote_mid: String?
    public var created_at: EpochMillis

    public var view: MessageView {
        let atts = attachments.flatMap { try? JSONDecoder().decode([Attachment].self, from: Data($0.utf8)) } ?? []
        let reacts = reactions.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
        return MessageView(
            id: mid, thread: thread_id, mid: direction == "in" ? mid : (remote_mid ?? (mid.hasPrefix("out:") ? nil : mid)),
            direction: MessageDirection(rawValue: direction) ?? .inbound, author: MessageAuthor(rawValue: author) ?? .customer,
            text: text, attachments: atts, timestamp: timestamp, delivery: delivery.flatMap(OutboundStatus.init(rawValue:)),
            error: error, reactions: reacts, replyToStory: reply_to_story, deleted: deleted, edited: edited,
            outboundId: outbound_id)
    }
}

public struct OutboundRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord, Equatable {
    public static let databaseTableName = "outbound_messages"
    public var id: Int64?
    public var thread_id: String?
    public var recipient: String
    public var kind: String
    public var channel: String
    public var payload: String
    public var text: String?
    public var status: String
    public var attempts: Int
    public var remote_message_id: String?
    public var error: String?
    public var author: String
    public var message_mid: String?
    public var created_at: EpochMillis
    public var updated_at: EpochMillis
    /// When the row was marked `sending`: committed before its Graph call, so a row found `sending` after a crash
    /// may or may not have reached Meta (see `OutboxWorker`'s reconciliation). Shown as pending in views.
    public var sending_at: EpochMillis?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public var view: OutboundView {
        OutboundView(
            id: id ?? 0, thread: thread_id, kind: OutboundKind(rawValue: kind) ?? .manual,
            channel: OutboundChannel(rawValue: channel) ?? .instagram, status: OutboundStatus(rawValue: status) ?? .pending,
            text: text, attempts: attempts, error: error, remoteId: remote_message_id,
            author: MessageAuthor(rawValue: author) ?? .bot, createdAt: created_at)
    }
}

public struct RuleRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord, Equatable {
    public static let databaseTableName = "response_rules"
    public var id: Int64?
    public var pattern: String
    public var match_kind: String
    public var reply: String?
    public var priority: Int
    public var active: Bool
    public var action: String
    public var created_at: EpochMillis

    public init(pattern: String, matchKind: String, reply: String?, priority: Int, active: Bool = true, action: String) {
        self.pattern = pattern
        self.match_kind = matchKind
        self.reply = reply
        self.priority = priority
        self.active = active
        self.action = action
        self.created_at = nowMillis()
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct VerificationTokenRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord, Equatable {
    public static let databaseTableName = "verification_tokens"
    public var id: Int64?
    public var token_hash: String
    public var ig_id: String
    public var expires_at: EpochMillis
    public var consumed_at: EpochMillis?
    public var event_id: String?
    public var created_at: EpochMillis

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct EventRecord: Codable, Sendable, FetchableRecord, Equatable {
    public static let databaseTableName = "events"
    public var seq: Int64
    public var type: String
    public var thread_id: String?
    public var payload: String
    public var at: EpochMillis

    public var journalEvent: JournalEvent {
        JournalEvent(
            seq: seq, type: type, thread: thread_id, data: (try? JSONValue.parse(Data(payload.utf8))) ?? .null, at: at)
    }
}
