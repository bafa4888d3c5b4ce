import GRDB

/// Migrations as named steps (GRDB style); each runs once per database, in order.
enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: profiles, threads, messages, outbox, rules, tokens, events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE profiles (
                        id TEXT PRIMARY KEY,
                        username TEXT,
                        name TEXT,
                        picture TEXT,
                        connected INTEGER NOT NULL DEFAULT 0,
                        connected_at INTEGER,
                        profile_fetched_at INTEGER,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE TABLE threads (
                        id TEXT PRIMARY KEY REFERENCES profiles(id),
                        mode TEXT NOT NULL DEFAULT 'auto' CHECK (mode IN ('auto','human')),
                        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','resolved','snoozed')),
                        assignee TEXT,
                        unread INTEGER NOT NULL DEFAULT 0,
                        awaiting_operator INTEGER NOT NULL DEFAULT 0,
                        last_inbound_at INTEGER,
                        last_message_at INTEGER,
                        last_text TEXT,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX threads_by_recency ON threads(last_message_at DESC);
                    CREATE TABLE messages (
                        mid TEXT PRIMARY KEY,
                        thread_id TEXT NOT NULL REFERENCES threads(id),
                        direction TEXT NOT NULL CHECK (direction IN ('in','out')),
                        author TEXT NOT NULL,
                        text TEXT,
                        attachments TEXT,
                        reply_to_mid TEXT,
                        reply_to_story TEXT,
                        payload TEXT,
                        timestamp INTEGER NOT NULL,
                        source TEXT NOT NULL DEFAULT 'messaging',
                        status TEXT CHECK (status IN ('pending','processing','processed','failed')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at INTEGER,
                        error TEXT,
                        reactions TEXT,
                        read INTEGER NOT NULL DEFAULT 0,
                        deleted INTEGER NOT NULL DEFAULT 0,
                        edited INTEGER NOT NULL DEFAULT 0,
                        outbound_id INTEGER,
                        delivery TEXT,
                        remote_mid TEXT,
                        created_at INTEGER NOT NULL
                    );
                    CREATE INDEX messages_by_thread ON messages(thread_id, timestamp);
                    CREATE INDEX messages_pending ON messages(status, thread_id) WHERE status IN ('pending','processing');
                    CREATE INDEX messages_by_remote_mid ON messages(remote_mid) WHERE remote_mid IS NOT NULL;
                    CREATE TABLE outbound_messages (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        thread_id TEXT,
                        recipient TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        channel TEXT NOT NULL DEFAULT 'instagram',
                        payload TEXT NOT NULL,
                        text TEXT,
                        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','failed')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        remote_message_id TEXT,
                        error TEXT,
                        author TEXT NOT NULL DEFAULT 'bot',
                        message_mid TEXT,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX outbound_pending ON outbound_messages(status) WHERE status = 'pending';
                    CREATE INDEX outbound_by_remote ON outbound_messages(remote_message_id);
                    CREATE TABLE response_rules (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        pattern TEXT NOT NULL,
                        match_kind TEXT NOT NULL DEFAULT 'contains' CHECK (match_kind IN ('contains','word','regex')),
                        reply TEXT,
                        priority INTEGER NOT NULL DEFAULT 100,
                        active INTEGER NOT NULL DEFAULT 1,
                        action TEXT NOT NULL DEFAULT 'reply' CHECK (action IN ('reply','handover','both')),
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE verification_tokens (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        token_hash TEXT NOT NULL UNIQUE,
                        ig_id TEXT NOT NULL,
                        expires_at INTEGER NOT NULL,
                        consumed_at INTEGER,
                        event_id TEXT UNIQUE,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        type TEXT NOT NULL,
                        thread_id TEXT,
                        payload TEXT NOT NULL,
                        at INTEGER NOT NULL
                    );
                    """)
        }
        m.registerMigration("v2: agent steps") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agent_steps (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        thread_id TEXT NOT NULL,
                        batch TEXT NOT NULL,
                        kind TEXT NOT NULL CHECK (kind IN ('request','tool','fallback','stopped','finished')),
                        tool TEXT,
                        arguments TEXT,
                        result TEXT,
                        ok INTEGER NOT NULL DEFAULT 1,
                        latency_ms INTEGER,
                        prompt_tokens INTEGER,
                        completion_tokens INTEGER,
                        at INTEGER NOT NULL
                    );
                    CREATE INDEX agent_steps_by_thread ON agent_steps(thread_id, at);
                    """)
        }
        m.registerMigration("v3: outbox rows in flight (sending, sending_at)") { db in
            // A row is `sending` (committed) before its Graph call, so a crash leaves it in doubt rather than
            // pending: start-up reconciles it before any resend. SQLite cannot change a CHECK constraint in place,
            // so the table is rebuilt; ids and the AUTOINCREMENT counter are kept.
            try db.execute(
                sql: """
                    ALTER TABLE outbound_messages RENAME TO outbound_messages_v2;
                    DROP INDEX IF EXISTS outbound_pending;
                    DROP INDEX IF EXISTS outbound_by_remote;
                    CREATE TABLE outbound_messages (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        thread_id TEXT,
                        recipient TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        channel TEXT NOT NULL DEFAULT 'instagram',
                        payload TEXT NOT NULL,
                        text TEXT,
                        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sending','sent','failed')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        remote_message_id TEXT,
                        error TEXT,
                        author TEXT NOT NULL DEFAULT 'bot',
                        message_mid TEXT,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        sending_at INTEGER
                    );
                    INSERT INTO outbound_messages(id, thread_id, recipient, kind, channel, payload, text, status, attempts,
                                                  remote_message_id, error, author, message_mid, created_at, updated_at)
                        SELECT id, thread_id, recipient, kind, channel, payload, text, status, attempts, remote_message_id,
                               error, author, message_mid, created_at, updated_at
                        FROM outbound_messages_v2 ORDER BY id;
                    UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbound_messages_v2'), 0))
                        WHERE name = 'outbound_messages';
                    DROP TABLE outbound_messages_v2;
                    CREATE INDEX outbound_pending ON outbound_messages(status) WHERE status IN ('pending','sending');
                    CREATE INDEX outbound_by_remote ON outbound_messages(remote_message_id);
                    CREATE INDEX outbound_by_recipient ON outbound_messages(recipient, status, id);
                    """)
        }
        m.registerMigration("v4: outbox attachments (type, url)") { db in
            // An operator's media by URL is an outbox row of its own, sent as Meta's `message.attachment`; texts keep NULLs.
            try db.execute(
                sql: """
                    ALTER TABLE outbound_messages ADD COLUMN attachment_type TEXT
                        CHECK (attachment_type IN ('image','video','audio','file'));
                    ALTER TABLE outbound_messages ADD COLUMN attachment_url TEXT;
                    """)
        }
        m.registerMigration("v5: message kinds") { db in
            // What a received message is (MessageKind); NULL rows from before are derived from their columns.
            try db.execute(sql: "ALTER TABLE messages ADD COLUMN kind TEXT")
        }
        m.registerMigration("v6: the polite bot (last fallback and away text per thread)") { db in
            // DMDESK_FALLBACK_COOLDOWN and the away text once per closed period need to know when each last went out.
            try db.execute(
                sql: """
                    ALTER TABLE threads ADD COLUMN last_fallback_at INTEGER;
                    ALTER TABLE threads ADD COLUMN last_away_at INTEGER;
                    """)
        }
        m.registerMigration("v7: full-text search of messages") { db in
            try FullTextIndex.create(db)
        }
        m.registerMigration("v8: comments") { db in try CommentSchema.create(db) }
        m.registerMigration("v9: synced messages and webhook health") { db in
            // Small facts kept across restarts: the last accepted webhook's time (WebhookHealthStore.swift). Synced
            // messages need no column: their `messages.source` is 'sync'.
            try db.execute(
                sql: """
                    CREATE TABLE daemon_state (
                        key TEXT PRIMARY KEY,
                        value INTEGER,
                        updated_at INTEGER NOT NULL
                    );
                    """)
        }
        m.registerMigration("v11: snooze") { db in
            try db.execute(
                sql: """
                    ALTER TABLE threads ADD COLUMN snoozed_until INTEGER;
                    ALTER TABLE threads ADD COLUMN snooze_ended_at INTEGER;
                    -- The snooze service's one question: which snoozes with a time come due first.
                    CREATE INDEX threads_snoozed ON threads(snoozed_until) WHERE status = 'snoozed' AND snoozed_until IS NOT NULL;
                    """)
        }
        return m
    }
}
