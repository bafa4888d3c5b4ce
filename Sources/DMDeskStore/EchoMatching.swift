import DMDeskCore
import Foundation
import GRDB

extension SQLiteStore {
    /// An echo whose mid we do not know may still be of a message we sent: its result is not recorded yet (the echo
    /// came before the Send API's answer was written), or its daemon died during the call. The recipient's oldest
    /// in-flight text with the same words, marked `sending` no later than the echo (give or take the skew), is
    /// that message: it becomes `sent` with the echo's mid, its conversation line follows, and nothing else
    /// happens — no operator line, no takeover. Failing that, a row recorded `failed` after the echo's time (its
    /// last attempt timed out after Meta had taken it) is proven sent the same way. Returns the events, or nil when
    /// no row matches.
    ///
    /// A private reply's row is addressed to a comment id; its echo names the commenter, the row's thread.
    ///
    /// An echo of media carries Meta's copy of it (a CDN URL, not ours), so media rows match by the attachment's type.
    static func matchEchoToInFlightSend(
        _ db: Database, recipient: String, text: String?, attachmentType: String? = nil, at: EpochMillis, mid: String
    ) throws -> [JournalEvent]? {
        guard !recipient.isEmpty else { return nil }
        guard let text, !text.isEmpty else {
            guard let attachmentType, AttachmentKind(rawValue: attachmentType) != nil else { return nil }
            let id = try Int64.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT id FROM outbound_messages
                        WHERE recipient = ?1 AND status = 'sending' AND channel = 'instagram' AND attachment_type = ?2
                          AND sending_at <= ?3
                        ORDER BY id LIMIT 1
                        """),
                arguments: [recipient, attachmentType, at + StorePolicy.echoClockSkewMillis])
            guard let id else { return nil }
            return try provenSent(id: id, remoteId: mid, db: db)?.events
        }
        let skew = StorePolicy.echoClockSkewMillis
        let id = try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT id FROM outbound_messages
                    WHERE (recipient = ?1 OR (kind = 'private_reply' AND thread_id = ?1)) AND status = 'sending' AND channel = 'instagram' AND kind <> 'reaction'
                      AND text = ?2 AND sending_at <= ?3
                    ORDER BY id LIMIT 1
                    """),
            arguments: [recipient, text, at + skew])
            ?? Int64.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT id FROM outbound_messages
                        WHERE (recipient = ?1 OR (kind = 'private_reply' AND thread_id = ?1)) AND status = 'failed' AND channel = 'instagram' AND kind <> 'reaction'
                          AND text = ?2 AND sending_at <= ?3 AND updated_at >= ?4
                        ORDER BY id LIMIT 1
                        """),
                arguments: [recipient, text, at + skew, at - skew])
        guard let id else { return nil }
        return try provenSent(id: id, remoteId: mid, db: db)?.events
    }

    /// Proof from the Conversations API never reuses a message already accounted for.
    public func knownMessageIds(_ ids: [String]) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        return try await read { db in
            let list = JSONValue.array(ids.map { .string($0) }).compactString
            return Set(
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT j.value FROM json_each(?1) j
                        WHERE EXISTS(SELECT 1 FROM outbound_messages o WHERE o.remote_message_id = j.value)
                           OR EXISTS(SELECT 1 FROM messages m WHERE m.mid = j.value)
                           OR EXISTS(SELECT 1 FROM messages m WHERE m.remote_mid = j.value)
                        """,
                    arguments: [list]))
        }
    }
}
