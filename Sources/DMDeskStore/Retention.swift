import DMDeskCore
import Foundation
import GRDB

// Retention: the journal's oldest events, and (when configured) whole conversations whose last message is old,
// leave the database in small batches, each its own short transaction, so the ingest writer waits behind at most
// one of them.

/// What one conversation deletion removed.
public struct DeletedConversations: Sendable, Equatable {
    /// The threads deleted (their customers' ids).
    public var threads: [String]
    /// One `thread.deleted` journal event per thread.
    public var events: [JournalEvent]
}

extension SQLiteStore {
    public func journalBounds() async throws -> JournalBounds {
        try await read { db in try Self.journalBounds(db) }
    }

    static func journalBounds(_ db: Database) throws -> JournalBounds {
        let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM events")
        // The AUTOINCREMENT counter: the newest seq ever given, even once its row is gone.
        let counter = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0
        return JournalBounds(oldest: oldest, newest: max(counter, try lastSeq(db)))
    }

    public func pruneJournal(before cutoff: EpochMillis, batchSize: Int) async throws -> Int {
        try await write(.other) { db in try Self.pruneJournal(db, before: cutoff, batchSize: batchSize) }
    }

    /// Deletes the oldest run of events written before `cutoff`, at most `batchSize`, never the newest event (so
    /// the journal always says where it ends). Only a prefix goes: every event after the oldest one kept is kept,
    /// which is what lets `JournalBounds.canResume` answer from the oldest seq alone.
    static func pruneJournal(_ db: Database, before cutoff: EpochMillis, batchSize: Int) throws -> Int {
        guard let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM events") else { return 0 }
        let newest = try lastSeq(db)
        let window = oldest + Int64(max(batchSize, 1))
        // The first event of the window young enough to keep (the scan is bounded by the window).
        let firstKept = try Int64.fetchOne(
            db, sql: "SELECT seq FROM events WHERE seq >= ? AND seq < ? AND at >= ? ORDER BY seq LIMIT 1",
            arguments: [oldest, window, cutoff])
        let end = min(firstKept ?? window, newest)
        guard end > oldest else { return 0 }
        try db.execute(sql: "DELETE FROM events WHERE seq >= ? AND seq < ?", arguments: [oldest, end])
        return db.changesCount
    }

    public func expiredConversations(lastMessageBefore cutoff: EpochMillis, limit: Int) async throws -> [String] {
        try await read { db in try Self.expiredConversations(db, lastMessageBefore: cutoff, limit: limit) }
    }

    /// Threads whose last message is older than `cutoff` and with nothing still in flight: no message waiting for
    /// an answer, no outbox row still to send or in doubt (the outbox worker may hold those).
    /// `among`: only these threads (the deletion's recheck looks at its batch, not the whole table).
    static func expiredConversations(
        _ db: Database, lastMessageBefore cutoff: EpochMillis, limit: Int, among threads: [String]? = nil
    ) throws -> [String] {
        let onlyThese = threads.map { "AND t.id IN (\(databaseQuestionMarks(count: $0.count)))" } ?? ""
        return try String.fetchAll(
            db,
            sql: """
                SELECT t.id FROM threads t
                WHERE COALESCE(t.last_message_at, t.created_at) < ? \(onlyThese)
                  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.status IN ('pending','processing'))
                  AND NOT EXISTS (SELECT 1 FROM outbound_messages o
                                  WHERE (o.thread_id = t.id OR o.recipient = t.id) AND o.status IN ('pending','sending'))
                ORDER BY COALESCE(t.last_message_at, t.created_at) LIMIT ?
                """,
            arguments: StatementArguments([cutoff] as [any DatabaseValueConvertible] + (threads ?? []) + [limit]))
    }

    public func deleteConversations(_ threads: [String], lastMessageBefore cutoff: EpochMillis) async throws -> DeletedConversations {
        try await write(.other) { db in try Self.deleteConversations(db, threads, lastMessageBefore: cutoff) }
    }

    /// Deletes each thread that is still expired (checked again inside the transaction: a message may have
    /// arrived since it was listed) from every table that refers to it, and journals `thread.deleted`.
    static func deleteConversations(_ db: Database, _ threads: [String], lastMessageBefore cutoff: EpochMillis) throws
        -> DeletedConversations
    {
        // Every table with a thread_id column, found from the schema: a table added later is covered too.
        let tables = try String.fetchAll(
            db,
            sql: """
                SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
                WHERE m.type = 'table' AND c.name = 'thread_id' AND m.name <> 'threads'
                ORDER BY m.name
                """)
        // Rows of one conversation point at each other (messages → threads → profiles); checked at commit.
        try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
        var result = DeletedConversations(threads: [], events: [])
        guard !threads.isEmpty else { return result }
        let still = Set(try expiredConversations(db, lastMessageBefore: cutoff, limit: threads.count, among: threads))
        for thread in threads where still.contains(thread) {
            for table in tables {
                try db.execute(sql: "DELETE FROM \(table.quotedDatabaseIdentifier) WHERE thread_id = ?", arguments: [thread])
            }
            // Rows that name the customer rather than the thread.
            try db.execute(sql: "DELETE FROM outbound_messages WHERE recipient = ?", arguments: [thread])
            try db.execute(sql: "DELETE FROM verification_tokens WHERE ig_id = ?", arguments: [thread])
            try db.execute(sql: "DELETE FROM threads WHERE id = ?", arguments: [thread])
            try db.execute(sql: "DELETE FROM profiles WHERE id = ?", arguments: [thread])
            result.threads.append(thread)
            result.events.append(
                try journal(db, type: EventType.threadDeleted, thread: thread, data: ["thread": .string(thread), "reason": "retention"]))
        }
        return result
    }

    /// The database's files on disk (the main file and its WAL), in bytes.
    public func databaseBytes() -> Int64 {
        [path, path + "-wal"].reduce(0) { total, file in
            var info = stat()
            return stat(file, &info) == 0 ? total + Int64(info.st_size) : total
        }
    }
}
