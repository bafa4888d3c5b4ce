import DMDeskCore
import DMDeskDaemon
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Synchronization
import Testing

/// Webhook load on a few connections: the mids answered 200, in order, and when to stop.
private final class WebhookLoad: Sendable {
    let answered = Mutex<[String]>([])
    let stopping = Atomic<Bool>(false)
    let task = Mutex<Task<Void, Never>?>(nil)

    func start(_ d: DaemonHarness, connections: Int, tag: String) {
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                for connection in 0..<connections {
                    group.addTask {
                        var n = 0
                        while !self.stopping.load(ordering: .relaxed) {
                            n += 1
                            let mid = "m_\(tag)_\(connection)_\(n)"
                            let body = WebhookBuilder.textMessage(from: "77\(connection)", text: "load \(n)", mid: mid)
                            guard let reply = try? await d.postWebhook(body, signature: WebhookBuilder.sign(body)) else { return }
                            if reply.status == 200 { self.answered.withLock { $0.append(mid) } }
                        }
                    }
                }
            }
        }
        self.task.withLock { $0 = task }
    }

    func stop() async {
        stopping.store(true, ordering: .relaxed)
        await task.withLock { $0 }?.value
    }

    var count: Int { answered.withLock { $0.count } }
}

/// Opens a backup file on its own, read-only, as someone restoring it would.
private func openBackup(_ path: String) throws -> DatabaseQueue {
    var config = Configuration()
    config.readonly = true
    return try DatabaseQueue(path: path, configuration: config)
}

@Suite("Backups, restores and retention against a real daemon", .serialized)
struct BackupRetentionTests {
    static var enabled: Bool { dmdeskExecutable() != nil }

    @Test("dmdesk backup during webhook load: every delivery answered before it started is in the copy, which checks ok", .enabled(if: enabled))
    func backupUnderLoad() async throws {
        try await withDaemon { d, _ in
            let socket = d.dataDir + "/dmdesk.sock"
            for fixture in try WebhookFixture.all() { #expect(try await d.post(fixture).status == 200, "\(fixture.name)") }
            let load = WebhookLoad()
            load.start(d, connections: 8, tag: "bk")
            #expect(await eventually(timeout: 30) { load.count >= 200 }, "the load is running")

            let answeredBefore = load.answered.withLock { $0 }
            let seqBefore = try await d.store.lastSeq()
            let file = try makeTempDirectory(prefix: "dmdesk-backup") + "/dmdesk-backup.sqlite"
            let (status, out, err) = try await onThread { try runDmdesk(["backup", file, "--socket", socket, "--json"], cwd: d.dataDir) }
            let answeredDuring = load.count - answeredBefore.count
            await load.stop()
            #expect(status == 0, "backup failed: \(err)")
            let report = try JSONValue.parse(Data(out.utf8)).decode(BackupReport.self)
            #expect(report.integrity == "ok" && report.lastSeq >= seqBefore)

            let backup = try openBackup(file)
            defer { try? backup.close() }
            try await backup.read { db in
                #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
                let mids = Set(try String.fetchAll(db, sql: "SELECT mid FROM messages"))
                let missing = answeredBefore.filter { !mids.contains($0) }
                #expect(missing.isEmpty, "answered 200 before the backup, not in it: \(missing.prefix(5))")
                // Every journal event up to the seq the daemon had reached, with no hole.
                let seqs = try Int64.fetchAll(db, sql: "SELECT seq FROM events WHERE seq <= ? ORDER BY seq", arguments: [seqBefore])
                #expect(seqs == Array(1...seqBefore))
                #expect(try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") == report.lastSeq)
                #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM threads WHERE id = '1150723386611240'") == 1, "text.json's thread")
            }
            // A figure for whoever reads the log, not a bar: the writers went on while the copy was taken.
            print("backup under load: \(answeredDuring) deliveries answered while it ran, \(report.bytes) bytes")
            // A second backup to the same name is refused: a backup never overwrites.
            let (again, _, againErr) = try await onThread { try runDmdesk(["backup", file, "--socket", socket], cwd: d.dataDir) }
            #expect(again == 1 && againErr.contains("already exists"))
        }
    }

    @Test("dmdesk restore: refused while the daemon runs, checks the file, keeps the old database aside", .enabled(if: enabled))
    func restore() async throws {
        try await withRedis { redis in
            let d = try await DaemonHarness(redisURL: redis.url)
            let dataDir = d.dataDir
            let socket = dataDir + "/dmdesk.sock"
            let env = ["DMDESK_DATA_DIR": dataDir, "DMDESK_SOCKET": socket]
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
            let file = try makeTempDirectory(prefix: "dmdesk-backup") + "/before.sqlite"
            let (backedUp, _, backupErr) = try await onThread { try runDmdesk(["backup", file], cwd: dataDir, env: env) }
            #expect(backedUp == 0, "\(backupErr)")
            let later = WebhookBuilder.textMessage(from: "5550001", text: "after the backup", mid: "m_after_backup")
            #expect(try await d.postWebhook(later, signature: WebhookBuilder.sign(later)).status == 200)

            let (refused, _, refusedErr) = try await onThread { try runDmdesk(["restore", file], cwd: dataDir, env: env) }
            #expect(refused == 1 && refusedErr.contains("is using the data directory"), "\(refusedErr)")
            #expect(try await d.store.message(mid: "m_after_backup") != nil, "nothing replaced under the running daemon")
            try await d.stop()

            let garbage = dataDir + "/../not-a-backup.sqlite"
            try Data("SQLite format 3\u{0}but not really".utf8).write(to: URL(fileURLWithPath: garbage))
            let (bad, _, badErr) = try await onThread { try runDmdesk(["restore", garbage], cwd: dataDir, env: env) }
            #expect(bad == 1 && badErr.contains("not a dmdesk database"), "\(badErr)")
            #expect(!FileManager.default.fileExists(atPath: dataDir + "/dmdesk.sqlite.restoring"))

            let (restored, out, restoreErr) = try await onThread { try runDmdesk(["restore", file], cwd: dataDir, env: env) }
            #expect(restored == 0, "\(restoreErr)")
            #expect(out.contains("kept at"))
            let asides = try FileManager.default.contentsOfDirectory(atPath: dataDir).filter { $0.hasPrefix("dmdesk.sqlite.before-restore-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
            #expect(asides.count == 1)
            if let aside = asides.first {
                #expect(try SQLiteStore.inspectDatabase(at: dataDir + "/" + aside).messages == 2, "the replaced database is whole")
            }

            let again = try await DaemonHarness(redisURL: redis.url, dataDir: dataDir)
            #expect(try await again.store.thread("1150723386611240") != nil)
            #expect(try await again.store.message(mid: "m_after_backup") == nil, "the restored database is the backup's")
            #expect(try await again.post(WebhookFixture.named("reaction.json")).status == 200, "and takes webhooks again")
            try await again.stop()
        }
    }

    @Test("subscribe since a pruned seq gets resync over the real socket; an up-to-date one resumes", .enabled(if: enabled))
    func resyncAfterPruning() async throws {
        try await withDaemon(env: ["DMDESK_JOURNAL_RETENTION": "1s", "DMDESK_PRUNE_INTERVAL": "1s"]) { d, _ in
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
            #expect(try await d.post(WebhookFixture.named("postback.json")).status == 200)
            let firstEvents = try await d.store.lastSeq()
            #expect(firstEvents >= 3)
            // One second on, the next pass prunes all but the newest event (the first webhook's daemon.status, or the
            // postback's).
            #expect(await eventually(timeout: 30) {
                guard let oldest = (try? await d.store.journalBounds().oldest).flatMap({ $0 }) else { return false }
                let newest = try? await d.store.lastSeq()
                return oldest >= firstEvents && oldest == newest
            })
            let bounds = try await d.store.journalBounds()
            let client = try ControlClient.connect(path: d.dataDir + "/dmdesk.sock", timeout: 5)
            defer { client.close() }
            for since in [Int64(0), bounds.newest - 2, bounds.newest + 5] {
                do {
                    _ = try await onThread { try client.request(ControlRequest(id: 1, type: .subscribe, since: since)) }
                    Issue.record("subscribe since=\(since) was accepted with events pruned after it (journal \(bounds))")
                } catch ControlClientError.server(let error) {
                    #expect(error.code == "resync", "since=\(since): \(error)")
                    #expect(error.message.contains("subscribe without since"))
                }
            }
            // The same connection subscribes afresh and follows live events.
            let fresh = try await onThread { try client.request(ControlRequest(id: 2, type: .subscribe, since: bounds.newest - 1)) }
            #expect(fresh["subscribed"]?.boolValue == true)
            let body = WebhookBuilder.textMessage(from: "5550004", text: "live", mid: "m_live_resync")
            #expect(try await d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            let live = try await onThread { () -> [ServerLine] in
                var lines: [ServerLine] = []
                let deadline = Date().addingTimeInterval(15)
                while Date() < deadline && !lines.contains(where: { $0.event == EventType.messageReceived }) {
                    lines += try client.readAvailable()
                    usleep(20_000)
                }
                return lines
            }
            #expect(live.contains { $0.event == EventType.messageReceived }, "live events follow: \(live.map { $0.event ?? $0.type })")
        }
    }

    @Test("the console in tmux resumes from a pruned seq: it gets resync, reloads and keeps working", .enabled(if: enabled && TmuxTerminal.available))
    func consoleReloadsAfterResync() async throws {
        try await withRedis { redis in
            let first = try await DaemonHarness(redisURL: redis.url)
            let dataDir = first.dataDir
            #expect(try await first.post(WebhookFixture.named("text.json")).status == 200)
            let terminal = try await ConsoleInTerminalTests.Rig.attach(first)
            defer { terminal.close() }
            #expect(await terminal.waitAsync("blue hoodie").0, "attached and showing the thread")
            try await first.stop()
            #expect(await terminal.waitAsync("reconnecting").0)

            // While no daemon runs: a new conversation arrives in the store, and retention (a clock far ahead)
            // prunes the journal past the console's seq, so only a reload can show it.
            let store = try SQLiteStore(dataDir: dataDir)
            _ = try await store.ingest(try WebhookParser.parse(WebhookBuilder.textMessage(from: "5550002", text: "missed while away", mid: "m_missed")).events)
            while try await store.pruneJournal(before: nowMillis() + 86_400_000, batchSize: 1000) > 0 {}
            try await store.close()

            let second = try await DaemonHarness(redisURL: redis.url, dataDir: dataDir)
            let (reloaded, screen) = await terminal.waitAsync(timeout: 30) { $0.contains("5550002") }
            #expect(reloaded, "the console reloaded after resync:\n\(screen)")
            // Every reconnect lists the threads again, so the list alone proves little; what resync handling
            // changes is that the console subscribes afresh, and so keeps following live events.
            #expect(!screen.contains("subscribe failed"))
            let body = WebhookBuilder.textMessage(from: "5550003", text: "live after the reload", mid: "m_live_after")
            #expect(try await second.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            #expect(await terminal.waitAsync("5550003").0, "live events follow the reload")
            try await second.stop()
        }
    }

    @Test("message retention deletes old conversations from SQLite and Redis and keeps recent ones; /health shows the size", .enabled(if: enabled))
    func messageRetention() async throws {
        try await withRedis { redis in
            let dataDir = try makeTempDirectory(prefix: "dmdesk-retention")
            let old = "5550010"
            let oldAt = nowMillis() - 10 * 86_400_000
            // A conversation last heard from ten days ago, answered, with its context in Redis.
            let store = try SQLiteStore(dataDir: dataDir)
            _ = try await store.ingest(try WebhookParser.parse(WebhookBuilder.textMessage(from: old, text: "old question", mid: "m_old", timestamp: oldAt)).events)
            _ = try await store.claimAndComplete(threads: [old], now: nowMillis(), finishing: [], marking: []) { batch, _ in
                BatchPlan(thread: batch.thread, mids: batch.mids, plannedMode: batch.mode, reason: "test")
            }
            try await store.close()
            let context = RedisContextStore(endpoint: try RedisEndpoint(url: redis.url), logger: DaemonHarness.quietLogger())
            #expect(await context.pushAsync([ContextTurn(customer: old, role: .user, text: "old question")]))

            let d = try await DaemonHarness(
                redisURL: redis.url, dataDir: dataDir, env: ["DMDESK_MESSAGE_RETENTION": "7d", "DMDESK_PRUNE_INTERVAL": "1s"])
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
            #expect(await eventually(timeout: 30) { (try? await d.store.thread(old)) == nil }, "the old conversation is deleted")
            #expect(try await d.count("SELECT COUNT(*) FROM messages WHERE thread_id = '\(old)'") == 0)
            #expect(try await d.count("SELECT COUNT(*) FROM profiles WHERE id = '\(old)'") == 0)
            #expect(try await d.count("SELECT COUNT(*) FROM events WHERE thread_id = '\(old)' AND type <> 'thread.deleted'") == 0)
            #expect(try await context.turnsAsync(customer: old).isEmpty, "its Redis context is gone")
            // The recent one stays, in both.
            #expect(try await d.store.thread("1150723386611240") != nil)
            #expect(await eventually { (try? await context.turnsAsync(customer: "1150723386611240").isEmpty) == false })
            let health = try await d.health()
            let bytes = health["sqlite"]?["database_bytes"]?.int64Value ?? 0
            #expect(bytes > 4096, "/health database_bytes: \(bytes)")
            try await d.stop()
            await context.closeAsync()
        }
    }
}
