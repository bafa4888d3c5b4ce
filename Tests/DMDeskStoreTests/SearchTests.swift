import DMDeskCore
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("Store: full-text search over messages, in step with edits, unsends and deletions")
struct SearchTests {
    let ana = "3100000000000101"
    let bob = "3100000000000102"

    func edit(_ customer: String, mid: String, text: String, at: EpochMillis) throws -> [WebhookEvent] {
        try Events.parse([[
            "sender": ["id": .string(customer)], "recipient": ["id": .string(Events.account)], "timestamp": .number(Double(at)),
            "message_edit": ["mid": .string(mid), "text": .string(text), "num_edit": 1],
        ]])
    }

    func unsend(_ customer: String, mid: String) throws -> [WebhookEvent] {
        try Events.parse([[
            "sender": ["id": .string(customer)], "recipient": ["id": .string(Events.account)], "timestamp": .number(Double(nowMillis())),
            "message": ["mid": .string(mid), "is_deleted": true],
        ]])
    }

    func mids(_ store: any InboxStore, _ text: String, thread: String? = nil) async throws -> [String] {
        try await store.search(MessageSearch(text: text, thread: thread)).map(\.mid)
    }

    @Test("words in any order, the last a prefix, case and accents ignored, newest first, one thread or all", arguments: StoreEngine.all)
    func finds(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let base = nowMillis() - 60_000
            _ = try await store.ingest(try Events.text(ana, "Olá! Do you ship the blue HOODIE to Porto?", mid: "a1", at: base))
            _ = try await store.ingest(try Events.text(bob, "is the hoodie available in blue", mid: "b1", at: base + 1000))
            _ = try await store.ingest(try Events.text(ana, "and a red scarf", mid: "a2", at: base + 2000))
            _ = try await store.ingest(try Events.echo(to: ana, text: "Yes, the blue hoodie ships tomorrow", mid: "e1", at: base + 3000))

            #expect(try await mids(store, "blue hoodie") == ["e1", "b1", "a1"], "every word, newest first")
            #expect(try await mids(store, "hoodie blue") == ["e1", "b1", "a1"], "in any order")
            #expect(try await mids(store, "porto hood") == ["a1"], "the last word as a prefix")
            #expect(try await mids(store, "OLA") == ["a1"], "case and accents ignored")
            #expect(try await mids(store, "blue hoodie", thread: ana) == ["e1", "a1"], "one thread")
            #expect(try await mids(store, "scarf porto").isEmpty, "all words must match")

            let hit = try #require(try await store.search(MessageSearch(text: "porto")).first)
            #expect(hit.thread == ana && hit.direction == .inbound && hit.author == "customer")
            let scalars = Array(hit.snippet.unicodeScalars)
            let marked = hit.highlights.map { String(String.UnicodeScalarView(scalars[$0.start..<$0.start + $0.length])) }
            #expect(marked == ["Porto"], "\(hit.snippet) \(hit.highlights)")
            #expect(hit.snippet == "Olá! Do you ship the blue HOODIE to Porto?")
        }
    }

    @Test("what a user types is never FTS5 syntax: quotes, operators, stars, columns, NUL", arguments: StoreEngine.all)
    func userTextIsWords(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            _ = try await store.ingest(try Events.text(ana, "size \"XL\" AND NOT the NEAR one: text*", mid: "q1"))
            for query in ["\"XL\"", "AND NOT", "NEAR(", "text*", "text:size", "\"", "* ^ -", "size\u{0}xl", "(", "OR"] {
                _ = try await store.search(MessageSearch(text: query))  // throws on an FTS5 syntax error
            }
            #expect(try await mids(store, "\"XL\"") == ["q1"])
            #expect(try await mids(store, "AND NOT") == ["q1"], "operators are words")
            #expect(try await mids(store, "OR").isEmpty)
            #expect(try await mids(store, "   ").isEmpty)
            #expect(MessageSearch.fts5(" \t ") == nil)
        }
    }

    @Test("edits replace the words, unsends and deleted conversations remove them; a purge clears them from the file", arguments: StoreEngine.all)
    func inStep(engine: StoreEngine) async throws {
        let place = try await engine.makePlace()
        let store = try await engine.open(place)
        let base = nowMillis() - 60_000
        _ = try await store.ingest(try Events.text(ana, "my parcel code is zebracode", mid: "s1", at: base))
        _ = try await store.ingest(try Events.text(ana, "typo here: wrongword", mid: "s2", at: base + 1))
        _ = try await store.ingest(try Events.text(bob, "an old question about quokkas", mid: "s3", at: base + 2))
        #expect(try await mids(store, "zebracode") == ["s1"])

        _ = try await store.ingest(try edit(ana, mid: "s2", text: "fixed: rightword", at: base + 3))
        #expect(try await mids(store, "wrongword").isEmpty, "an edit's old words are gone")
        #expect(try await mids(store, "rightword") == ["s2"])

        _ = try await store.ingest(try unsend(ana, mid: "s1"))
        #expect(try await mids(store, "zebracode").isEmpty, "an unsent message is not found")

        // Retention deletes only conversations with nothing pending.
        try await (store as! SQLiteStore).pool.write { db in try db.execute(sql: "UPDATE messages SET status = 'processed'") }
        let deleted = try await store.deleteConversations([bob], lastMessageBefore: nowMillis() + 1)
        #expect(deleted.threads == [bob])
        #expect(try await mids(store, "quokkas").isEmpty, "a deleted conversation is not found")

        #expect(try await store.purgeRemovedFromSearch(), "there was something to purge")
        #expect(try await store.purgeRemovedFromSearch() == false, "and then nothing")
        try await store.close()
        if engine.name == StoreEngine.sqlite.name {
            for file in ["dmdesk.sqlite", "dmdesk.sqlite-wal"].map({ place + "/" + $0 }) where FileManager.default.fileExists(atPath: file) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                // (An edit's old words stay in the journal's message.received, as the edit does not erase.)
                for word in ["zebracode", "quokkas"] {
                    #expect(bytes.range(of: Data(word.utf8)) == nil, "\(file) still holds \(word)")
                }
            }
        }
    }

    @Test("the SQLite migration indexes messages stored before it")
    func migrationBackfills() async throws {
        let dir = try makeTempDirectory(prefix: "dmdesk-search-migration")
        let store = try SQLiteStore(dataDir: dir)
        _ = try await store.ingest(try Events.text(ana, "stored before search existed: walrus", mid: "old1"))
        _ = try await store.ingest(try Events.text(bob, "another walrus question", mid: "old2"))
        try await store.close()
        // Back to the schema before v7, as an older dmdesk left it.
        let queue = try DatabaseQueue(path: dir + "/dmdesk.sqlite")
        try await queue.write { db in
            try db.execute(sql: """
                DROP TRIGGER message_search_insert; DROP TRIGGER message_search_update; DROP TRIGGER message_search_delete;
                DROP TABLE message_search; DROP TABLE message_search_ids; DROP TABLE message_search_state;
                DELETE FROM grdb_migrations WHERE identifier = 'v7: full-text search of messages';
                """)
        }
        try queue.close()
        let reopened = try SQLiteStore(dataDir: dir)
        #expect(try await mids(reopened, "walrus") == ["old2", "old1"])
        try await reopened.close()
    }
}
