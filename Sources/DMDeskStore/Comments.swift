import DMDeskCore
import Foundation
import GRDB

/// The `comments` table (migration "v8: comments") and the rules' scope.
enum CommentSchema {
    static func create(_ db: Database) throws {
        // One row per comment id: a redelivery stores nothing new. A reply is an outbox row (recipient: the comment
        // id), so it is sent once with retries like a DM; the comment keeps which rows answered it.
        try db.execute(
            sql: """
                CREATE TABLE comments (
                    id TEXT PRIMARY KEY,
                    account_id TEXT,
                    from_id TEXT NOT NULL,
                    from_username TEXT,
                    text TEXT,
                    media_id TEXT,
                    media_product_type TEXT,
                    parent_id TEXT,
                    timestamp INTEGER NOT NULL,
                    private_reply_outbound_id INTEGER,
                    public_reply_outbound_id INTEGER,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX comments_by_time ON comments(timestamp DESC);
                ALTER TABLE response_rules ADD COLUMN scope TEXT CHECK (scope IN ('comments'));
                """)
    }
}

/// Which comments `comments(_:)` lists.
public struct CommentFilter: Sendable {
    /// Only comments with neither a private nor a public reply (failed replies do not count).
    public var unansweredOnly: Bool
    public var limit: Int
    public init(unansweredOnly: Bool = false, limit: Int = 500) {
        self.unansweredOnly = unansweredOnly
        self.limit = limit
    }
}

extension SQLiteStore {
    /// A comment with its replies' states, newest first.
    static let commentSQL = """
        SELECT c.id, c.text, c.from_id, c.from_username, c.media_id, c.media_product_type, c.parent_id, c.timestamp,
               c.private_reply_outbound_id, p.status AS private_status,
               c.public_reply_outbound_id, q.status AS public_status, q.remote_message_id AS public_remote_id
        FROM comments c
        LEFT JOIN outbound_messages p ON p.id = c.private_reply_outbound_id
        LEFT JOIN outbound_messages q ON q.id = c.public_reply_outbound_id
        """

    static func commentView(_ row: Row) throws -> CommentView {
        func status(_ column: String) throws -> OutboundStatus? {
            (try row.decode(OutboundRecord.Status?.self, forColumn: column))?.view
        }
        return CommentView(
            id: try row.decode(forColumn: "id"), text: try row.decode(forColumn: "text"),
            fromId: try row.decode(forColumn: "from_id"), fromUsername: try row.decode(forColumn: "from_username"),
            mediaId: try row.decode(forColumn: "media_id"), mediaProductType: try row.decode(forColumn: "media_product_type"),
            parentId: try row.decode(forColumn: "parent_id"), timestamp: try row.decode(forColumn: "timestamp"),
            privateReplyOutboundId: try row.decode(forColumn: "private_reply_outbound_id"),
            privateReplyStatus: try status("private_status"),
            publicReplyOutboundId: try row.decode(forColumn: "public_reply_outbound_id"),
            publicReplyStatus: try status("public_status"),
            publicReplyId: try row.decode(forColumn: "public_remote_id"))
    }

    static func comment(_ db: Database, id: String) throws -> CommentView? {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: commentSQL + " WHERE c.id = ?"), arguments: [id])
        guard let row = try rows.next() else { return nil }
        return try commentView(row)
    }

    public func comment(id: String) async throws -> CommentView? {
        try await read { db in try Self.comment(db, id: id) }
    }

    public func comments(_ filter: CommentFilter) async throws -> [CommentView] {
        // Unanswered: no reply that is queued or sent (a failed one does not count), and not the account's own
        // comment (its public replies come back as comments too).
        let unanswered = """
             WHERE (c.private_reply_outbound_id IS NULL OR p.status = 'failed')
               AND (c.public_reply_outbound_id IS NULL OR q.status = 'failed')
               AND (c.account_id IS NULL OR c.from_id <> c.account_id)
            """
        let sql = Self.commentSQL + (filter.unansweredOnly ? unanswered : "") + " ORDER BY c.timestamp DESC, c.id LIMIT ?"
        return try await read { db in
            let rows = try Row.fetchCursor(db, sql: sql, arguments: [max(1, filter.limit)])
            var out: [CommentView] = []
            while let row = try rows.next() { out.append(try Self.commentView(row)) }
            return out
        }
    }

    /// A `comments` change, inside the ingest transaction: stored once per comment id (a redelivery stores and
    /// journals nothing), journaled as `comment.received`; a matching comment rule queues its private reply in
    /// the same transaction (pending: the outbox sends it, and resumes it after a crash).
    static func applyComment(_ event: WebhookEvent, _ c: CommentEvent, db: Database, now: EpochMillis, outcome: inout IngestOutcome) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO comments(id, account_id, from_id, from_username, text, media_id, media_product_type, parent_id,
                                     timestamp, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO NOTHING
                """
        ).execute(arguments: [
            c.id, event.accountId.isEmpty ? nil : event.accountId, c.fromId, c.fromUsername, c.text, c.mediaId,
            c.mediaProductType, c.parentId, event.timestamp, now,
        ])
        guard db.changesCount > 0 else {
            outcome.duplicates += 1
            return
        }
        outcome.storedComments += 1
        guard let view = try comment(db, id: c.id) else { return }
        outcome.events.append(try journal(db, type: EventType.commentReceived, thread: nil, data: .from(view)))
        // Our own account's comments (a public reply coming back) are not answered by rules.
        guard c.fromId != event.accountId, let text = c.text, !text.isEmpty else { return }
        let rules = RuleSet(try commentRules(db))
        guard let rule = rules.firstMatch(text), let reply = rule.record.reply, !reply.isEmpty else { return }
        if case .success(let change) = try queueCommentReply(
            commentId: c.id, text: reply, publicly: false, author: .bot, now: now, db: db)
        {
            outcome.events += change.events
            outcome.outbound.append(change.record)
        }
    }

    static func commentRules(_ db: Database) throws -> [RuleRecord] {
        try RuleRecord.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM response_rules WHERE active = 1 AND scope = 'comments' ORDER BY priority, id"))
    }

    public func queueCommentReply(commentId: String, text: String, publicly: Bool, author: MessageAuthor, now: EpochMillis)
        async throws -> Result<OutboxChange, CommentReplyRefusal>
    {
        try await write(.commands) { db in
            try Self.queueCommentReply(commentId: commentId, text: text, publicly: publicly, author: author, now: now, db: db)
        }
    }

    /// Queues a reply to a comment (a pending outbox row) after checking Meta's limits here, before any call: one
    /// private reply per comment, within 7 days of it. A private reply's line goes into the commenter's DM thread
    /// (created if need be), where the conversation continues.
    static func queueCommentReply(
        commentId: String, text: String, publicly: Bool, author: MessageAuthor, now: EpochMillis, db: Database
    ) throws -> Result<OutboxChange, CommentReplyRefusal> {
        guard let comment = try Self.comment(db, id: commentId) else { return .failure(.unknownComment(commentId)) }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return .failure(.emptyText) }
        var change: OutboxChange
        if publicly {
            let draft = OutboundDraft(
                thread: nil, recipient: commentId, kind: .commentReply, text: text, payload: ["comment_id": .string(commentId)],
                author: author)
            change = try enqueue(draft, in: db, threadExists: false)
            try db.cachedStatement(sql: "UPDATE comments SET public_reply_outbound_id = ? WHERE id = ?")
                .execute(arguments: [change.record.id, commentId])
        } else {
            if comment.answeredPrivately { return .failure(.alreadyRepliedPrivately(commentId: commentId)) }
            let age = now - comment.timestamp
            if age > CommentReplyPolicy.privateReplyWindowMillis {
                return .failure(.tooOldForPrivateReply(commentId: commentId, ageDays: Int(age / 86_400_000)))
            }
            try ensureThread(db, id: comment.fromId, now: now)
            if let username = comment.fromUsername {
                try db.cachedStatement(sql: "UPDATE profiles SET username = COALESCE(username, ?) WHERE id = ?")
                    .execute(arguments: [username, comment.fromId])
            }
            let draft = OutboundDraft(
                thread: comment.fromId, recipient: commentId, kind: .privateReply, text: text,
                payload: ["comment_id": .string(commentId)], author: author)
            change = try enqueue(draft, in: db, threadExists: true)
            try db.cachedStatement(sql: "UPDATE comments SET private_reply_outbound_id = ? WHERE id = ?")
                .execute(arguments: [change.record.id, commentId])
        }
        if let view = try Self.comment(db, id: commentId) {
            change.events.append(try journal(db, type: EventType.commentUpdated, thread: nil, data: .from(view)))
        }
        return .success(change)
    }

    /// After a comment reply's row changed status: the comment's new state, journaled (`comment.updated`).
    static func commentReplyOutcome(_ record: OutboundRecord, db: Database) throws -> [JournalEvent] {
        guard record.kind == .privateReply || record.kind == .commentReply else { return [] }
        guard let view = try comment(db, id: record.recipient) else { return [] }
        return [try journal(db, type: EventType.commentUpdated, thread: nil, data: .from(view))]
    }
}
