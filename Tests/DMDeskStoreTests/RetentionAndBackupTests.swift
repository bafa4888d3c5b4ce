import DMDeskCore
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("Store: journal retention, message retention, backups and restores")
struct RetentionAndBackupTests {
    let oldCustomer = "3200000000000001"
    let recentCustomer = "3200000000000002"
    static let day: EpochMillis = 86_400_000

    /// Waits (spinning, never long) until the clock has moved past `t`, so the next event is written later.
    func clockPassed(_ t: EpochMillis) { while nowMillis() <= t {} }

    @Test("pruning removes only the journal's oldest run before the cutoff, in bounded batches, never its newest event", arguments: StoreEngine.all)
    func pruneJournal(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            var old: [JournalEvent] = []
            for n in 0..<5 { old.append(try await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: ["n": .number(Double(n))])) }
            clockPassed(old.last!.at)
            let cutoff = nowMillis()
            clockPassed(cutoff - 1)
            let young = try await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: ["n": 5])
            #expect(young.at >= cutoff)
            #expect(try await store.journalBounds() == JournalBounds(oldest: old[0].seq, newest: young.seq))

            // Two per batch: the first batch takes the two oldest and nothing else.
            #expect(try await store.pruneJournal(before: cutoff, batchSize: 2) == 2)
            #expect(try await store.wholeJournal().map(\.seq) == [old[2].seq, old[3].seq, old[4].seq, young.seq])
            #expect(try await store.pruneJournal(before: cutoff, batchSize: 2) == 2)
            #expect(try await store.pruneJournal(before: cutoff, batchSize: 2) == 1)
            #expect(try await store.pruneJournal(before: cutoff, batchSize: 2) == 0, "the young event stays")
            #expect(try await store.wholeJournal().map(\.seq) == [young.seq])

            // A cutoff past every event (a clock far ahead) still keeps the newest: the journal says where it ends.
            #expect(try await store.pruneJournal(before: nowMillis() + 31 * Self.day, batchSize: 100) == 0)
            let bounds = try await store.journalBounds()
            #expect(bounds == JournalBounds(oldest: young.seq, newest: young.seq))
            #expect(try await store.lastSeq() == young.seq)
            // Who saw up to the event before the young one can resume; who saw less cannot, nor who saw more.
            #expect(bounds.canResume(since: young.seq - 1) && bounds.canResume(since: young.seq))
            #expect(!bounds.canResume(since: old[3].seq) && !bounds.canResume(since: 0))
            #expect(!bounds.canResume(since: young.seq + 1))
            // The next event continues the sequence.
            #expect(try await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: [:]).seq == young.seq + 1)
        }
    }

    @Test("an event younger than the cutoff ends the pruned run, even with older ones after it", arguments: StoreEngine.all)
    func prefixOnly(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let first = try await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: [:])
            clockPassed(first.at)
            let cutoff = nowMillis()
            clockPassed(cutoff - 1)
            let second = try await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: [:])
            let third = try await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: [:])
            // The clock stepped back: the third event is stamped before the cutoff, but the second is not.
            let pool = try #require(store as? SQLiteStore).pool
            try await pool.write { db in try db.execute(sql: "UPDATE events SET at = ? WHERE seq = ?", arguments: [cutoff - 10, third.seq]) }
            #expect(try await store.pruneJournal(before: cutoff, batchSize: 100) == 1)
            #expect(try await store.wholeJournal().map(\.seq) == [second.seq, third.seq])
        }
    }

    /// A conversation with a row in every table: messages both ways, an answered batch, a sent reply, an agent
    /// step, a verification token.
    func seedConversation(_ store: any InboxStore, customer: String, at: EpochMillis) async throws {
        _ = try await store.ingest(try Events.text(customer, "hello from \(customer)", mid: "m_\(customer)", at: at))
        let tick = try await store.answer([customer], now: at)
        let sent = try #require(try tick.outcomes.first?.result.get().records.first?.id)
        _ = try await store.finishOutbound(id: sent, status: .sent, attempts: 1, remoteId: "mid.\(customer)")
        _ = try await store.recordAgentStep(AgentStepDraft(kind: .request), thread: customer, batch: "m_\(customer)", now: at)
        _ = try await store.issueVerificationToken(hash: "hash-\(customer)", igId: customer, eventId: "ev-\(customer)", now: at)
        // The thread's last message is the customer's (a reply sent now would make it recent).
        let pool = try #require(store as? SQLiteStore).pool
        try await pool.write { db in
            try db.execute(sql: "UPDATE threads SET last_message_at = ? WHERE id = ?", arguments: [at, customer])
        }
    }

    /// Rows that belong to `customer`, per table, from every table with a thread_id column and the ones keyed by
    /// the customer.
    func rows(of customer: String, in store: any InboxStore) async throws -> [String: Int] {
        let pool = try #require(store as? SQLiteStore).pool
        return try await pool.read { db in
            var found: [String: Int] = [:]
            let tables = try String.fetchAll(db, sql: """
                SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'thread_id'
                """)
            for table in tables {
                found[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table) WHERE thread_id = ?", arguments: [customer])
            }
            found["threads"] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM threads WHERE id = ?", arguments: [customer])
            found["profiles"] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM profiles WHERE id = ?", arguments: [customer])
            found["outbound_messages (recipient)"] = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM outbound_messages WHERE recipient = ?", arguments: [customer])
            found["verification_tokens"] = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM verification_tokens WHERE ig_id = ?", arguments: [customer])
            return found
        }
    }

    @Test("message retention deletes an old conversation from every table, keeps recent and busy ones, journals it", arguments: StoreEngine.all)
    func deleteOldConversations(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let now = nowMillis()
            try await seedConversation(store, customer: oldCustomer, at: now - 40 * Self.day)
            try await seedConversation(store, customer: recentCustomer, at: now - 1 * Self.day)
            // Old too, but its message still waits for an answer: left alone.
            let waiting = "3200000000000003"
            _ = try await store.ingest(try Events.text(waiting, "anyone?", mid: "m_waiting", at: now - 40 * Self.day))
            let before = try await rows(of: oldCustomer, in: store)
            #expect(before.values.allSatisfy { $0 > 0 }, "the old conversation has rows everywhere: \(before)")

            let cutoff = now - 30 * Self.day
            #expect(try await store.expiredConversations(lastMessageBefore: cutoff, limit: 10) == [oldCustomer])
            let deleted = try await store.deleteConversations([oldCustomer, recentCustomer], lastMessageBefore: cutoff)
            #expect(deleted.threads == [oldCustomer], "a recent thread passed in by mistake is not deleted")
            #expect(deleted.events.map(\.type) == [EventType.threadDeleted] && deleted.events.first?.thread == oldCustomer)
            let after = try await rows(of: oldCustomer, in: store)
            // Only the journal's note of the deletion names it.
            #expect(after.filter { $0.key != "events" }.values.allSatisfy { $0 == 0 }, "left behind: \(after.filter { $0.value > 0 })")
            #expect(after["events"] == 1)
            #expect(try await rows(of: recentCustomer, in: store).values.allSatisfy { $0 > 0 })
            #expect(try await store.thread(waiting) != nil)
            #expect(try await store.expiredConversations(lastMessageBefore: cutoff, limit: 10).isEmpty)
            // The journal's last event says so; the deleted thread's own events are gone with it.
            let journal = try await store.wholeJournal()
            #expect(journal.last?.type == EventType.threadDeleted)
            #expect(journal.filter { $0.thread == oldCustomer }.map(\.type) == [EventType.threadDeleted])
        }
    }

    @Test("a backup is one consistent, checked copy; it never overwrites; a restore needs the data directory to itself", arguments: StoreEngine.all)
    func backupAndRestore(engine: StoreEngine) async throws {
        let place = try await engine.makePlace()
        let store = try #require(try await engine.open(place) as? SQLiteStore)
        _ = try await store.ingest(try Events.text(oldCustomer, "before the backup", mid: "m_before"))
        let backupDir = try makeTempDirectory(prefix: "dmdesk-backups")
        let file = backupDir + "/one.sqlite"
        let report = try await store.backup(to: file)
        #expect(report.integrity == "ok" && report.messages == 1 && report.threads == 1)
        #expect(report.lastSeq == (try await store.lastSeq()))
        #expect(try SQLiteStore.inspectDatabase(at: file).lastSeq == report.lastSeq)
        await #expect(throws: BackupError.destinationExists(file)) { try await store.backup(to: file) }
        #expect(!FileManager.default.fileExists(atPath: file + ".partial-\(getpid())"))

        _ = try await store.ingest(try Events.text(oldCustomer, "after the backup", mid: "m_after"))
        #expect(throws: BackupError.dataDirectoryInUse(place)) { try SQLiteStore.restore(from: file, dataDir: place) }
        try await store.close()

        // A damaged file is refused before anything is touched.
        let garbage = backupDir + "/garbage.sqlite"
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: garbage))
        #expect(throws: BackupError.self) { try SQLiteStore.restore(from: garbage, dataDir: place) }
        let truncated = backupDir + "/truncated.sqlite"
        let whole = try Data(contentsOf: URL(fileURLWithPath: file))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        #expect(throws: BackupError.self) { try SQLiteStore.restore(from: truncated, dataDir: place) }
        let untouched = try await engine.open(place)
        #expect(try await untouched.message(mid: "m_after") != nil)
        try await untouched.close()

        let restored = try SQLiteStore.restore(from: file, dataDir: place)
        let aside = try #require(restored.previous)
        #expect(FileManager.default.fileExists(atPath: aside))
        let back = try await engine.open(place)
        #expect(try await back.message(mid: "m_before") != nil)
        #expect(try await back.message(mid: "m_after") == nil)
        try await back.close()
        // The database it replaced is kept whole.
        #expect(try SQLiteStore.inspectDatabase(at: aside).messages == 2)
    }

    @Test("the database's size on disk is reported", arguments: StoreEngine.all)
    func size(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let empty = store.databaseBytes()
            #expect(empty > 0)
            let big = String(repeating: "x", count: 900)
            _ = await store.ingest(try (0..<200).map { try Events.text(oldCustomer, big + "\($0)", mid: "m_size_\($0)") })
            #expect(store.databaseBytes() > empty + 100 * 900)
        }
    }
}
