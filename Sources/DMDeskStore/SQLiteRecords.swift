import DMDeskCore
import Foundation
import GRDB

// How the SQLite engine maps the records: GRDB's record protocols, every column read by its name. The rows read
// most often (an outbox row, a thread's summary) decode their columns one by one; the others use their Codable
// conformance, which is by name too. Fetch them with `Record.fetchOne/fetchAll(statement)` (or read a
// `Row` while a cursor is on it): that looks names up in the statement's own index, where a copied `Row` (from
// `Row.fetchOne`) would compare every column name in turn. A value outside an enum's cases is a decoding error, never
// a crash (the schema's CHECK constraints keep them out in the first place).

// Column enums: GRDB stores a String-backed enum as its raw value.
extension ThreadMode: DatabaseValueConvertible {}
extension ThreadStatus: DatabaseValueConvertible {}
extension MessageDirection: DatabaseValueConvertible {}
extension MessageAuthor: DatabaseValueConvertible {}
extension ProcessingStatus: DatabaseValueConvertible {}
extension OutboundKind: DatabaseValueConvertible {}
extension OutboundStatus: DatabaseValueConvertible {}
extension OutboundChannel: DatabaseValueConvertible {}
extension AttachmentKind: DatabaseValueConvertible {}
extension AgentStepKind: DatabaseValueConvertible {}
extension MessageSource: DatabaseValueConvertible {}
extension OutboundRecord.Status: DatabaseValueConvertible {}
extension RuleMatchKind: DatabaseValueConvertible {}
extension RuleAction: DatabaseValueConvertible {}
extension MessageKind: DatabaseValueConvertible {}
extension RuleScope: DatabaseValueConvertible {}

extension ProfileRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "profiles"
}

extension ThreadRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "threads"
}

extension MessageRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "messages"
}

extension OutboundRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "outbound_messages"

    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        thread_id = try row.decode(forColumn: "thread_id")
        recipient = try row.decode(forColumn: "recipient")
        kind = try row.decode(forColumn: "kind")
        channel = try row.decode(forColumn: "channel")
        payload = try row.decode(forColumn: "payload")
        text = try row.decode(forColumn: "text")
        status = try row.decode(forColumn: "status")
        attempts = try row.decode(forColumn: "attempts")
        remote_message_id = try row.decode(forColumn: "remote_message_id")
        error = try row.decode(forColumn: "error")
        author = try row.decode(forColumn: "author")
        message_mid = try row.decode(forColumn: "message_mid")
        created_at = try row.decode(forColumn: "created_at")
        updated_at = try row.decode(forColumn: "updated_at")
        sending_at = try row.decode(forColumn: "sending_at")
        attachment_type = try row.decode(forColumn: "attachment_type")
        attachment_url = try row.decode(forColumn: "attachment_url")
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension RuleRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "response_rules"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension VerificationTokenRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "verification_tokens"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension AgentStepRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "agent_steps"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension EventRecord: FetchableRecord {
    public static let databaseTableName = "events"
}

extension ThreadSummary: FetchableRecord {
    /// A row of `SQLiteStore.summarySQL` (or a RETURNING clause with the same column names).
    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"), username: try row.decode(forColumn: "username"),
            name: try row.decode(forColumn: "name"), mode: try row.decode(forColumn: "mode"),
            status: try row.decode(forColumn: "status"), assignee: try row.decode(forColumn: "assignee"),
            unread: try row.decode(forColumn: "unread"), awaitingOperator: try row.decode(forColumn: "awaiting_operator"),
            lastText: try row.decode(forColumn: "last_text"), lastAt: try row.decode(forColumn: "last_message_at"),
            lastInboundAt: try row.decode(forColumn: "last_inbound_at"),
            connected: (try row.decode(Bool?.self, forColumn: "connected")) ?? false,
            snoozedUntil: row.hasColumn("snoozed_until") ? try row.decode(forColumn: "snoozed_until") : nil,
            snoozeEndedAt: row.hasColumn("snooze_ended_at") ? try row.decode(forColumn: "snooze_ended_at") : nil)
    }
}
