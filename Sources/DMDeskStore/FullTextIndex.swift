import DMDeskCore
import GRDB

/// SQLite FTS5 over every message's text, kept in step by triggers, so every path that writes `messages` (ingest,
/// sends, edits, unsends, retention) keeps it right without knowing of it.
///
/// The index's rowids come from `message_search_ids` (an INTEGER PRIMARY KEY, which VACUUM keeps), not from
/// `messages`' implicit rowid, which VACUUM (and so `dmdesk backup`'s VACUUM INTO) may renumber.
enum FullTextIndex {
    static func create(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE message_search_ids (
                    id INTEGER PRIMARY KEY,
                    mid TEXT NOT NULL UNIQUE
                );
                CREATE VIRTUAL TABLE message_search USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
                -- Set when text left the index (an edit, an unsend, a deletion): the retention pass then merges it away.
                CREATE TABLE message_search_state (id INTEGER PRIMARY KEY CHECK (id = 1), removed INTEGER NOT NULL);
                INSERT INTO message_search_state VALUES (1, 0);

                CREATE TRIGGER message_search_insert AFTER INSERT ON messages
                WHEN new.text IS NOT NULL AND new.text != '' AND new.deleted = 0 BEGIN
                    INSERT INTO message_search_ids(mid) VALUES (new.mid);
                    INSERT INTO message_search(rowid, text) VALUES (last_insert_rowid(), new.text);
                END;

                CREATE TRIGGER message_search_update AFTER UPDATE OF text, deleted ON messages
                WHEN old.text IS NOT new.text OR old.deleted IS NOT new.deleted BEGIN
                    UPDATE message_search_state SET removed = 1 WHERE old.text IS NOT NULL AND old.deleted = 0;
                    DELETE FROM message_search WHERE rowid = (SELECT id FROM message_search_ids WHERE mid = old.mid);
                    DELETE FROM message_search_ids WHERE mid = old.mid;
                    INSERT INTO message_search_ids(mid)
                        SELECT new.mid WHERE new.text IS NOT NULL AND new.text != '' AND new.deleted = 0;
                    INSERT INTO message_search(rowid, text)
                        SELECT last_insert_rowid(), new.text WHERE new.text IS NOT NULL AND new.text != '' AND new.deleted = 0;
                END;

                CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
                    UPDATE message_search_state SET removed = 1 WHERE old.text IS NOT NULL AND old.deleted = 0;
                    DELETE FROM message_search WHERE rowid = (SELECT id FROM message_search_ids WHERE mid = old.mid);
                    DELETE FROM message_search_ids WHERE mid = old.mid;
                END;

                INSERT INTO message_search_ids(mid)
                    SELECT mid FROM messages WHERE text IS NOT NULL AND text != '' AND deleted = 0 ORDER BY timestamp, rowid;
                INSERT INTO message_search(rowid, text)
                    SELECT i.id, m.text FROM message_search_ids i JOIN messages m ON m.mid = i.mid;
                """)
    }

    /// FTS5 keeps a deleted row's words in its index segments (marked deleted) until they are merged; after an
    /// unsend or a retention deletion the retention pass merges them, so erased words leave the file too.
    /// True when it merged (text had left the index since the last time).
    static func mergeAway(_ db: Database) throws -> Bool {
        guard try Bool.fetchOne(db, sql: "SELECT removed FROM message_search_state WHERE id = 1") == true else { return false }
        // One pass over the whole index (~0.3 s for 200,000 messages here), only after an erasure.
        try db.execute(sql: "INSERT INTO message_search(message_search) VALUES ('optimize')")
        try db.execute(sql: "UPDATE message_search_state SET removed = 0 WHERE id = 1")
        return true
    }

    static let markers = (open: "\u{2}", close: "\u{3}")

    static func search(_ query: MessageSearch, db: Database) throws -> [SearchHit] {
        guard let match = MessageSearch.fts5(query.text) else { return [] }
        var sql = """
            SELECT m.mid, m.thread_id, m.direction, m.author, m.timestamp, p.name, p.username,
                   snippet(message_search, 0, char(2), char(3), '…', 16) AS snippet
            FROM message_search
            JOIN message_search_ids i ON i.id = message_search.rowid
            JOIN messages m ON m.mid = i.mid
            LEFT JOIN profiles p ON p.id = m.thread_id
            WHERE message_search MATCH ?
            """
        var arguments: StatementArguments = [match]
        if let thread = query.thread {
            sql += " AND m.thread_id = ?"
            arguments += [thread]
        }
        // Newest first in the index's own order (rowids are handed out as messages arrive): no sort of every match.
        sql += " ORDER BY message_search.rowid DESC LIMIT ?"
        arguments += [query.limit]
        return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { row in
            let (text, highlights) = Self.highlighted(row["snippet"] ?? "")
            return SearchHit(
                mid: row["mid"], thread: row["thread_id"],
                direction: MessageDirection(rawValue: row["direction"]) ?? .inbound, author: row["author"],
                timestamp: row["timestamp"], name: row["name"], username: row["username"], snippet: text,
                highlights: highlights)
        }
    }

    /// The snippet without its markers, and where each marked match sits in it (Unicode scalar offsets).
    static func highlighted(_ marked: String) -> (String, [SearchHit.Range]) {
        var text = String.UnicodeScalarView()
        var ranges: [SearchHit.Range] = []
        var start: Int? = nil
        for scalar in marked.unicodeScalars {
            switch scalar {
            case "\u{2}": start = text.count
            case "\u{3}":
                if let s = start, text.count > s { ranges.append(SearchHit.Range(start: s, length: text.count - s)) }
                start = nil
            default: text.append(scalar)
            }
        }
        return (String(text), ranges)
    }
}
