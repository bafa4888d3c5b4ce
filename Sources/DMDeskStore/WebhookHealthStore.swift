import DMDeskCore
import Foundation
import GRDB

/// A message Meta's Conversations API has, as `dmdesk sync` hands it to the store.
public struct SyncedMessage: Sendable, Equatable {
    public var mid: String
    /// The customer (the conversation's other participant).
    public var thread: String
    /// `.inbound`: written by the customer; `.outbound`: by the business (the app, or another tool).
    public var direction: MessageDirection
    public var text: String?
    /// Meta's `created_time` (whole seconds).
    public var timestamp: EpochMillis

    public init(mid: String, thread: String, direction: MessageDirection, text: String?, timestamp: EpochMillis) {
        self.mid = mid
        self.thread = thread
        self.direction = direction
        self.text = text
        self.timestamp = timestamp
    }
}

/// What `insertSynced` did.
public struct SyncInsertOutcome: Sendable {
    public var inserted = 0
    /// Already stored (by mid, our outbox's remote id, or an echo's remote mid): nothing changed.
    public var known = 0
    public var events: [JournalEvent] = []
    public init() {}
}

/// Keys of `daemon_state` (migration v7).
enum DaemonStateKey {
    static let lastWebhookAt = "last_webhook_at"
}

extension SQLiteStore {
    public func lastWebhookAt() async throws -> EpochMillis? {
        try await read { db in
            try EpochMillis.fetchOne(db, sql: "SELECT value FROM daemon_state WHERE key = ?", arguments: [DaemonStateKey.lastWebhookAt])
        }
    }

    public func recordLastWebhook(at time: EpochMillis) async throws {
        try await write(.other) { db in
            // Never backwards: a late flush of an older time keeps the newer one.
            try db.execute(
                sql: """
                    INSERT INTO daemon_state(key, value, updated_at) VALUES (?1, ?2, ?3)
                    ON CONFLICT(key) DO UPDATE SET value = MAX(COALESCE(value, 0), excluded.value), updated_at = excluded.updated_at
                    """,
                arguments: [DaemonStateKey.lastWebhookAt, time, nowMillis()])
        }
    }

    public func newestMessageAt() async throws -> EpochMillis? {
        try await read { db in try EpochMillis.fetchOne(db, sql: "SELECT MAX(timestamp) FROM messages") }
    }

    public func insertSynced(_ messages: [SyncedMessage]) async throws -> SyncInsertOutcome {
        guard !messages.isEmpty else { return SyncInsertOutcome() }
        return try await write(.ingest) { db in
            var outcome = SyncInsertOutcome()
            let now = nowMillis()
            var touched: [String] = []
            for m in messages.sorted(by: { $0.timestamp < $1.timestamp }) {
                if try Self.insertSynced(m, db: db, now: now, outcome: &outcome), !touched.contains(m.thread) {
                    touched.append(m.thread)
                }
            }
            for thread in touched {
                if let summary = try Self.threadSummary(db, id: thread) {
                    outcome.events.append(try Self.journal(db, type: EventType.threadUpdated, thread: thread, data: JSONValue(summary)))
                }
            }
            return outcome
        }
    }

    /// One synced message: stored `processed` (the reply processor claims only `pending` rows, so the bot never
    /// answers it), with `source = 'sync'`, journaled as `message.received` or `message.sent`.
    static func insertSynced(_ m: SyncedMessage, db: Database, now: EpochMillis, outcome: inout SyncInsertOutcome) throws -> Bool {
        guard !m.thread.isEmpty, !m.mid.isEmpty else { throw StoreError.invalid("a synced message needs a mid and a thread") }
        let known = try Bool.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT EXISTS(SELECT 1 FROM messages WHERE mid = ?1 OR remote_mid = ?1)
                        OR EXISTS(SELECT 1 FROM outbound_messages WHERE remote_message_id = ?1)
                    """),
            arguments: [m.mid]) ?? false
        if known {
            outcome.known += 1
            return false
        }
        try ensureThread(db, id: m.thread, now: now)
        let preview = m.text ?? "[attachment]"
        if m.direction == .inbound {
            try db.cachedStatement(
                sql: """
                    INSERT INTO messages(mid, thread_id, direction, author, text, timestamp, source, status, created_at, kind)
                    VALUES (?, ?, 'in', 'customer', ?, ?, 'sync', 'processed', ?, ?)
                    """
            ).execute(arguments: [m.mid, m.thread, m.text, m.timestamp, now, MessageKind.text])
            try db.cachedStatement(
                sql: """
                    UPDATE threads SET unread = unread + 1,
                        last_inbound_at = MAX(COALESCE(last_inbound_at, 0), ?1),
                        last_message_at = MAX(COALESCE(last_message_at, 0), ?1),
                        last_text = CASE WHEN ?1 >= COALESCE(last_message_at, 0) THEN ?2 ELSE last_text END,
                        updated_at = ?3
                    WHERE id = ?4
                    """
            ).execute(arguments: [m.timestamp, preview, now, m.thread])
        } else {
            try db.cachedStatement(
                sql: """
                    INSERT INTO messages(mid, thread_id, direction, author, text, timestamp, source, delivery, remote_mid, created_at)
                    VALUES (?, ?, 'out', 'operator', ?, ?, 'sync', 'sent', ?, ?)
                    """
            ).execute(arguments: [m.mid, m.thread, m.text, m.timestamp, m.mid, now])
            try db.cachedStatement(
                sql: """
                    UPDATE threads SET last_message_at = MAX(COALESCE(last_message_at, 0), ?1),
                        last_text = CASE WHEN ?1 >= COALESCE(last_message_at, 0) THEN ?2 ELSE last_text END,
                        updated_at = ?3
                    WHERE id = ?4
                    """
            ).execute(arguments: [m.timestamp, preview, now, m.thread])
        }
        outcome.inserted += 1
        let view = try MessageRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM messages WHERE mid = ?"), arguments: [m.mid])!.view
        let type = m.direction == .inbound ? EventType.messageReceived : EventType.messageSent
        outcome.events.append(try journal(db, type: type, thread: m.thread, data: JSONValue(view)))
        return true
    }
}
