import AsyncHTTPClient
import DMDeskCore
import DMDeskDaemon
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// A real daemon on 127.0.0.1, port 0, with its own data directory and (optionally) its own redis-server.
final class DaemonHarness: @unchecked Sendable {
    let dataDir: String
    let daemon: Daemon
    let group: ServiceGroup
    let task: Task<Void, Error>
    let port: Int
    var runtime: DaemonRuntime { daemon.runtime }
    var store: any InboxStore { daemon.runtime.store }
    /// The engine itself, for raw SQL (`count`) and the SQLite-only test hooks.
    var sqlite: SQLiteStore { store as! SQLiteStore }
    var base: String { "http://127.0.0.1:\(port)" }

    static func config(dataDir: String, redisURL: String, env: [String: String] = [:]) throws -> DMDeskConfig {
        var vars = [
            "INSTAGRAM_APP_SECRET": WebhookFixture.appSecret, "INSTAGRAM_VERIFY_TOKEN": "verify-me",
            "REDIS_URL": redisURL, "PORT": "0", "DMDESK_DATA_DIR": dataDir, "HOME": dataDir,
            "DMDESK_SOCKET": dataDir + "/dmdesk.sock",
            // Listener tests look at ingest alone; reply tests set their own window.
            "DMDESK_REPLY_DELAY_MS": "600000",
            // Tests count and fail the Graph calls of replies; the typing tests turn indicators on.
            "DMDESK_TYPING": "false",
        ]
        vars.merge(env) { _, new in new }
        return try DMDeskConfig(ResolvedConfig.load(environment: vars, configFile: nil, dotenvPath: nil), environment: vars)
    }

    static func quietLogger() -> Logger {
        var logger = Logger(label: "dmdesk-test")
        logger.logLevel = ProcessInfo.processInfo.environment["DMDESK_TEST_LOG"] != nil ? .debug : .critical
        return logger
    }

    init(redisURL: String, dataDir: String? = nil, env: [String: String] = [:], options: DaemonOptions = DaemonOptions())
        async throws
    {
        self.dataDir = try dataDir ?? makeTempDirectory(prefix: "dmdesk-test")
        let config = try Self.config(dataDir: self.dataDir, redisURL: redisURL, env: env)
        let logger = Self.quietLogger()
        daemon = try Daemon(config: config, options: options, logger: logger)
        group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
        let group = self.group
        task = Task { try await group.run() }
        port = try await daemon.waitUntilListening()
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// A previous run for a restart test: a daemon that stored `fixture` (answered 200) and stopped. Returns its data
    /// directory and the journal's last seq.
    static func previousRun(redisURL: String, storing fixture: String) async throws -> (dataDir: String, lastSeq: Int64) {
        let first = try await DaemonHarness(redisURL: redisURL)
        #expect(try await first.post(WebhookFixture.named(fixture)).status == 200)
        let seq = try await first.store.lastSeq()
        try await first.stop()
        return (first.dataDir, seq)
    }

    struct Reply {
        var status: Int
        var body: String
        var contentType: String?
    }

    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = []) async throws -> Reply {
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        let resp = try await HTTPClient.shared.execute(req, timeout: .seconds(10))
        let bytes = try await resp.body.collect(upTo: 4 << 20)
        return Reply(status: Int(resp.status.code), body: String(buffer: bytes), contentType: resp.headers.first(name: "content-type"))
    }

    func postWebhook(_ body: Data, signature: String?, path: String = "/webhooks/instagram") async throws -> Reply {
        var headers = [("Content-Type", "application/json")]
        if let signature { headers.append(("X-Hub-Signature-256", signature)) }
        return try await request(.POST, path, body: body, headers: headers)
    }

    func post(_ fixture: WebhookFixture) async throws -> Reply {
        try await postWebhook(fixture.body, signature: fixture.signature)
    }

    func health() async throws -> JSONValue {
        try JSONValue.parse(Data(try await request(.GET, "/health").body.utf8))
    }

    func count(_ sql: String) async throws -> Int {
        try await sqlite.pool.read { db in try Int.fetchOne(db, sql: sql) ?? -1 }
    }
}

extension DaemonHarness {
    /// Returns once the daemon has nothing left to do: the processor idle (nothing due — or, with `horizon`, nothing
    /// due within it — no tick, no agent run, no send results waiting), then the outbox idle (no sender, nothing
    /// queued), then the processor still idle with no tick begun since the first look. So at the outbox's look both
    /// were idle, and nothing more happens without new input: assert absences after this. Throws `IdleTimeout`.
    @discardableResult
    func waitUntilIdle(timeout: Duration = .seconds(20), ignoringDueAfter horizon: Duration? = nil) async throws
        -> Processor.IdleState
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            let before = try await daemon.processor.waitUntilIdle(timeout: deadline - .now, ignoringDueAfter: horizon)
            try await runtime.outbox.waitUntilIdle(timeout: deadline - .now)
            let after = daemon.processor.idleState
            if after.isIdle(ignoringDueAfter: horizon) && after.ticks == before.ticks { return after }
        }
    }
}

func withRedis<T>(_ body: (RedisServer) async throws -> T) async throws -> T {
    let redis = try RedisServer()
    try redis.start()
    defer { redis.stop() }
    return try await body(redis)
}

/// Runs `body` with a fresh daemon on its own redis-server, and stops the daemon afterwards, also when `body` throws.
func withDaemon<T>(env: [String: String] = [:], _ body: (DaemonHarness, RedisServer) async throws -> T) async throws -> T {
    try await withRedis { redis in
        let d = try await DaemonHarness(redisURL: redis.url, env: env)
        let result: T
        do {
            result = try await body(d, redis)
        } catch {
            try? await d.stop()
            throw error
        }
        try await d.stop()
        return result
    }
}

/// Polls until `condition` holds or the deadline passes; returns whether it held.
func eventually(timeout: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
}

import GRDB

/// Runs blocking work (process waits, socket reads, tmux polling) on its own thread: Swift's cooperative pool
/// has one thread per core, and the in-process daemon under test needs it.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
