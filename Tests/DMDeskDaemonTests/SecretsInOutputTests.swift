import AsyncHTTPClient
import DMDeskCore
import DMDeskTesting
import Foundation
import NIOCore
import Testing

/// The real binary: passwords in URLs never reach `dmdesk config`, a start-up error, `/health` or the log.
@Suite("Passwords in URLs stay out of every output of the real binary", .enabled(if: dmdeskExecutable() != nil))
struct SecretsInOutputTests {
    @Test("`dmdesk config` lists URLs with the user and a masked password")
    func configListing() async throws {
        let dir = try makeTempDirectory()
        let env = [
            "REDIS_URL": "redis://:s3cret-redis-pw@127.0.0.1:6379/0",
            "DMDESK_LLM_BASE_URL": "http://bot:s3cret-llm-pw@127.0.0.1:11434/v1",
            "WHATSAPP_API_BASE_URL": "https://wa:s3cret-wa-pw@graph.example/v24.0",
        ]
        let (status, out, err) = try await onThread { try runDmdesk(["config"], cwd: dir, env: env) }
        #expect(status == 0, "\(err)")
        #expect(!(out + err).contains("s3cret"), "\(out)\(err)")
        #expect(out.contains("redis://:****@127.0.0.1:6379/0"), "\(out)")
        #expect(out.contains("http://bot:****@127.0.0.1:11434/v1"), "\(out)")
        #expect(out.contains("https://wa:****@graph.example/v24.0"), "\(out)")
    }

    @Test("a malformed URL with a password stops start-up with one line that does not echo the password", arguments: [
        ["REDIS_URL": "redis://:s3cret/pw@127.0.0.1:notaport"],
        ["REDIS_URL": "redis//:s3cret@127.0.0.1"],
        ["INSTAGRAM_API_BASE_URL": "ftp://ig:s3cret@graph.example/v24.0"],
    ])
    func malformedURL(env: [String: String]) async throws {
        let dir = try makeTempDirectory()
        let name = try #require(env.keys.first)
        for args in [["config"], ["--daemon", "--port", "0", "--allow-unsigned", "--data-dir", dir]] {
            let (status, out, err) = try await onThread { try runDmdesk(args, cwd: dir, env: env) }
            #expect(status != 0)
            #expect(err.contains("invalid \(name)"), "\(err)")
            #expect(err.split(separator: "\n").count == 1, "\(err)")
            #expect(!(out + err).contains("s3cret"), "\(args): \(out)\(err)")
        }
    }

    @Test("/health names the Redis endpoint without its password; the log masks every URL password")
    func healthAndLog() async throws {
        try await withRedis { redis in
            // A Redis that wants the password: the daemon really uses it (it connects), and never shows it.
            try redis.command(["CONFIG", "SET", "requirepass", "s3cret-redis-pw"])
            // A Graph stand-in that refuses our token, so its URL is logged with the refusal.
            let fake = FakeGraphAPI(expectedToken: "another-token")
            try await fake.start()
            let graphPort = try #require(fake.port)
            let dir = try makeTempDirectory()
            let daemon = try DaemonProcessTests.DaemonProcess(
                redisURL: "redis://:s3cret-redis-pw@127.0.0.1:\(redis.port)/0", dataDir: dir,
                extraEnv: ["INSTAGRAM_API_BASE_URL": "http://ig-proxy:s3cret-graph-pw@127.0.0.1:\(graphPort)/\(FakeGraphAPI.apiVersion)"])
            #expect(await daemon.waitForHealth())
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(daemon.port)/health"), timeout: .seconds(5))
            let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
            let health = try JSONValue.parse(Data(body.utf8))
            #expect(health["redis"]?["endpoint"]?.stringValue == "redis://:****@127.0.0.1:\(redis.port)/0", "\(body)")
            #expect(await eventually { (try? await self.redisStatus(daemon.port)) == "up" }, "the password was used: Redis is up")
            #expect(!body.contains("s3cret"))

            // A new customer makes the daemon fetch their profile through that base URL.
            #expect(try await daemon.post(WebhookBuilder.textMessage(from: "4242", text: "hi", mid: "secrets.1")) == 200)
            var log = ""
            #expect(await eventually { log += daemon.log(); return log.contains("graph call refused") }, "\(log)")
            #expect(try await daemon.signalAndWait(SIGTERM) == .exited(0))
            log += daemon.log()
            #expect(log.contains("redis://:****@127.0.0.1:\(redis.port)/0"), "start-up line names the endpoint:\n\(log)")
            #expect(log.contains("http://ig-proxy:****@127.0.0.1:\(graphPort)/\(FakeGraphAPI.apiVersion)/4242"), "\(log)")
            #expect(!log.contains("s3cret"), "\(log)")
            await fake.stop()
        }
    }

    @Test("DMDESK_LOG_FORMAT=json: every log line is one JSON object with level, time, label, message and metadata, and no secret")
    func jsonLog() async throws {
        try await withRedis { redis in
            try redis.command(["CONFIG", "SET", "requirepass", "s3cret-redis-pw"])
            let fake = FakeGraphAPI(expectedToken: "another-token")
            try await fake.start()
            let graphPort = try #require(fake.port)
            let dir = try makeTempDirectory()
            let daemon = try DaemonProcessTests.DaemonProcess(
                redisURL: "redis://:s3cret-redis-pw@127.0.0.1:\(redis.port)/0", dataDir: dir,
                extraEnv: [
                    "DMDESK_LOG_FORMAT": "json", "INTERNAL_SERVICE_TOKEN": "s3cret-internal-token",
                    "INSTAGRAM_VERIFY_TOKEN": "s3cret-verify-token",
                    "INSTAGRAM_API_BASE_URL": "http://ig-proxy:s3cret-graph-pw@127.0.0.1:\(graphPort)/\(FakeGraphAPI.apiVersion)",
                ])
            #expect(await daemon.waitForHealth())
            // A stored message (its profile fetch is refused and logged), a forged signature, a refused verify.
            #expect(try await daemon.post(WebhookBuilder.textMessage(from: "4343", text: "hi", mid: "jsonlog.1")) == 200)
            var forged = HTTPClientRequest(url: "http://127.0.0.1:\(daemon.port)/webhooks/instagram")
            forged.method = .POST
            forged.body = .bytes(ByteBuffer(bytes: WebhookBuilder.textMessage(from: "4343", text: "x", mid: "jsonlog.2")))
            forged.headers.add(name: "X-Hub-Signature-256", value: "sha256=" + String(repeating: "0", count: 64))
            let refused = try await HTTPClient.shared.execute(forged, timeout: .seconds(5))
            #expect(refused.status.code == 401 || refused.status.code == 403)
            _ = try await refused.body.collect(upTo: 1 << 16)
            #expect(try await daemon.get("/webhooks/instagram?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=7") == 403)
            var log = ""
            #expect(await eventually { log += daemon.log(); return log.contains("graph call refused") }, "\(log)")
            #expect(try await daemon.signalAndWait(SIGTERM) == .exited(0))
            log += daemon.log()
            await fake.stop()

            let lines = log.split(separator: "\n", omittingEmptySubsequences: true)
            #expect(lines.count >= 5, "\(log)")
            var messages: [String: JSONValue] = [:]
            for line in lines {
                let object = try JSONValue.parse(Data(line.utf8))
                let level = try #require(object["level"]?.stringValue, "\(line)")
                #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level), "\(line)")
                let time = try #require(object["time"]?.stringValue, "\(line)")
                #expect((try? Date(time, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) != nil, "\(line)")
                let label = object["label"]?.stringValue ?? ""
                #expect(label.hasPrefix("dmdesk"), "\(line)")
                let message = try #require(object["message"]?.stringValue, "\(line)")
                let metadata = try #require(object["metadata"], "\(line)")
                guard case .object = metadata else { Issue.record("metadata is not an object: \(line)"); continue }
                messages[message] = metadata
            }
            #expect(messages["dmdesk daemon starting"]?["redis"]?.stringValue == "redis://:****@127.0.0.1:\(redis.port)/0", "\(log)")
            #expect(messages["webhook rejected"]?["reason"] != nil, "the forged signature is logged with its reason:\n\(log)")
            #expect(messages["webhook verification refused"] != nil, "\(log)")
            for secret in ["s3cret", "secret-token-value-xyz", WebhookFixture.appSecret] {
                #expect(!log.contains(secret), "\(secret) leaked:\n\(log)")
            }
        }
    }

    private func redisStatus(_ port: Int) async throws -> String? {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return try JSONValue.parse(Data(String(buffer: body).utf8))["redis"]?["status"]?.stringValue
    }
}
