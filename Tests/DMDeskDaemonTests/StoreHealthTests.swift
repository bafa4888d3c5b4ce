import DMDeskCore
import DMDeskDaemon
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("/health tells the truth about SQLite: failed writes, free space, quick_check — real HTTP, real SQLite")
struct StoreHealthTests {
    /// A delivery big enough to need new database pages.
    static func bigDelivery(_ tag: String) -> Data {
        WebhookBuilder.envelope(items: (0..<30).map { i in
            [
                "sender": ["id": "3131313131"], "recipient": ["id": .string(WebhookBuilder.accountId)],
                "timestamp": .number(Double(nowMillis())),
                "message": ["mid": .string("\(tag).\(i)"), "text": .string(String(repeating: "x", count: 900))],
            ]
        })
    }

    /// On the writer connection (the pool has one): SQLite answers SQLITE_FULL once the file would need more pages.
    static func setMaxPageCount(_ store: SQLiteStore, _ pages: Int) async throws {
        try await store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = \(pages)") }
    }

    /// Adds a table of its own (so that nothing the daemon reads at start-up is damaged), fills it, and overwrites
    /// every page the filling added with garbage.
    static func scribble(databaseAt path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "CREATE TABLE filler(blob BLOB)") }
        let before = try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count")! }
        try queue.write { db in
            for _ in 0..<200 { try db.execute(sql: "INSERT INTO filler VALUES (randomblob(600))") }
        }
        let after = try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count")! }
        let pageSize = try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size")! }
        // Closing the last connection checkpoints the WAL into the file, so the pages are there to scribble on.
        try queue.close()
        #expect(after > before + 10)
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw StoreError.notFound(path) }
        for page in (before + 1)...after {
            try handle.seek(toOffset: UInt64((page - 1) * pageSize))
            try handle.write(contentsOf: Data(repeating: 0xA5, count: pageSize))
        }
        try handle.close()
    }

    func health(_ d: DaemonHarness) async throws -> (status: Int, json: JSONValue) {
        let reply = try await d.request(.GET, "/health")
        return (reply.status, try JSONValue.parse(Data(reply.body.utf8)))
    }

    /// Reads /health and checks its HTTP status, its overall status and its SQLite status; returns its JSON.
    func expectHealth(_ d: DaemonHarness, http: Int, overall: JSONValue, sqlite: JSONValue) async throws -> JSONValue {
        let (status, json) = try await health(d)
        #expect(status == http)
        #expect(json["status"] == overall)
        #expect(json["sqlite"]?["status"] == sqlite)
        return json
    }

    func controlStatus(_ d: DaemonHarness) async throws -> JSONValue? {
        let socket = d.dataDir + "/dmdesk.sock"
        return try await onThread {
            let client = try ControlClient.connect(path: socket)
            defer { client.close() }
            return try client.request(ControlRequest(id: 1, type: .status))["status"]
        }
    }

    @Test("while SQLite answers SQLITE_FULL, /health is 503 and the status bar says so; when writes work again, ok")
    func writesFailing() async throws {
        try await withDaemon { d, _ in
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
            #expect(try await health(d).json["sqlite"]?["writes"]?["status"] == "ok")

            // The writer may no longer grow the file: the next delivery needs pages it cannot have.
            try await Self.setMaxPageCount(d.sqlite, 1)
            let big = Self.bigDelivery("full")
            #expect(try await d.postWebhook(big, signature: WebhookBuilder.sign(big)).status == 500)

            let failing = try await expectHealth(d, http: 503, overall: "error", sqlite: "failing")
            let writes = failing["sqlite"]?["writes"]
            #expect(writes?["status"] == "failing")
            #expect(writes?["failing"]?.arrayValue?.contains("ingest") == true)
            #expect(writes?["paths"]?["ingest"]?["status"] == "failing")
            #expect(writes?["last_error"]?.stringValue?.contains("full") == true, "\(String(describing: writes))")
            #expect(await d.runtime.status().sqlite == "writes failing")
            #expect(try await controlStatus(d)?["sqlite"] == "writes failing")

            // Room again: Meta's retry is stored, and health recovers.
            try await Self.setMaxPageCount(d.sqlite, 1_073_741_823)
            #expect(try await d.postWebhook(big, signature: WebhookBuilder.sign(big)).status == 200)
            #expect(await eventually { (try? await health(d).status) == 200 })
            let recovered = try await health(d)
            #expect(recovered.json["status"] == "ok")
            #expect(recovered.json["sqlite"]?["status"] == "up")
            #expect(recovered.json["sqlite"]?["writes"]?["paths"]?["ingest"]?["status"] == "ok")
            #expect((recovered.json["sqlite"]?["writes"]?["failures"]?.doubleValue ?? 0) >= 1, "the failure stays on record")
            #expect(await d.runtime.status().sqlite == "up")
        }
    }

    @Test("write health by kind: a small write that works does not hide failing deliveries; an old failure goes stale once others work")
    func writeHealthByKind() {
        let health = WriteHealth()
        health.recordSuccess(.ingest, at: 1_000)
        health.recordFailure(.ingest, "database or disk is full", at: 2_000)
        health.recordSuccess(.other, at: 2_001)
        #expect(health.snapshot.failingPaths(at: 2_002) == [.ingest], "a status event fitting in a page says nothing about deliveries")
        health.recordFailure(.commands, "database or disk is full", at: 2_500)
        health.recordSuccess(.ingest, at: 3_000)
        #expect(health.snapshot.failingPaths(at: 3_001) == [.commands])
        #expect(health.snapshot.lastError == "database or disk is full")
        let later = 2_500 + WriteHealth.staleAfterMs + 1
        #expect(health.snapshot.failingPaths(at: later).isEmpty, "deliveries have been stored since: the old command failure is stale")

        let nothingSince = WriteHealth()
        nothingSince.recordFailure(.commands, "disk I/O error", at: 1_000)
        #expect(nothingSince.snapshot.failingPaths(at: 1_000 + WriteHealth.staleAfterMs * 10) == [.commands], "no write has worked since")
    }

    @Test("less free space than DMDESK_MIN_FREE_DISK_MB: degraded, still 200; quick_check runs again and again")
    func lowDiskAndPeriodicCheck() async throws {
        try await withRedis { redis in
            // A petabyte minimum: more than this machine has, whatever it has.
            let d = try await DaemonHarness(
                redisURL: redis.url, env: ["DMDESK_MIN_FREE_DISK_MB": "1000000000", "DMDESK_QUICK_CHECK_INTERVAL_MS": "200"])
            let low = try await expectHealth(d, http: 200, overall: "degraded", sqlite: "low_disk")
            let disk = low["sqlite"]?["disk"]
            #expect(disk?["status"] == "low")
            #expect((disk?["free_bytes"]?.doubleValue ?? 0) > 0)
            #expect(disk?["min_free_bytes"]?.doubleValue == Double(1_000_000_000) * 1_048_576)
            #expect(await d.runtime.status().sqlite == "low disk")
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200, "low, not full: still storing")

            #expect(await eventually { (try? await health(d).json["sqlite"]?["quick_check"]?["status"]) == "ok" })
            let firstCheck = try await health(d).json["sqlite"]?["quick_check"]?["checked_at"]?.doubleValue
            #expect(firstCheck != nil)
            #expect(await eventually {
                let next = try? await health(d).json["sqlite"]?["quick_check"]?["checked_at"]?.doubleValue
                return (next ?? 0) > (firstCheck ?? .infinity)
            }, "checked again")
            try await d.stop()

            let normal = try await DaemonHarness(redisURL: redis.url)
            let fine = try await health(normal)
            #expect(fine.json["sqlite"]?["disk"]?["status"] == "ok")
            #expect(fine.json["status"] == "ok")
            try await normal.stop()
        }
    }

    @Test("a database with scribbled pages: quick_check fails, /health is 503, the status bar says corrupt")
    func scribbledPages() async throws {
        try await withRedis { redis in
            let dir = try await DaemonHarness.previousRun(redisURL: redis.url, storing: "batch.json").dataDir
            try Self.scribble(databaseAt: dir + "/dmdesk.sqlite")

            let d = try await DaemonHarness(redisURL: redis.url, dataDir: dir)
            #expect(await eventually { (try? await health(d).json["sqlite"]?["quick_check"]?["status"]) == "failed" })
            let check = try await expectHealth(d, http: 503, overall: "error", sqlite: "corrupt")["sqlite"]?["quick_check"]
            #expect((check?["problem_count"]?.doubleValue ?? 0) >= 1)
            #expect(check?["problems"]?.arrayValue?.isEmpty == false)
            #expect(await d.runtime.status().sqlite == "corrupt")
            try await d.stop()
        }
    }
}
