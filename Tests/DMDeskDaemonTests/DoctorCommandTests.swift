import DMDeskCore
import DMDeskDaemon
import DMDeskGraph
import DMDeskTesting
import Foundation
import Testing

/// `dmdesk doctor` as a process, against the Graph stand-in, a real daemon and its own redis-server: everything in
/// order first, then each failure made to happen, with its line, its fix and the exit status.
@Suite("dmdesk doctor", .enabled(if: dmdeskExecutable() != nil))
struct DoctorCommandTests {
    static let token = "doctor-access-token-0123456789"
    static let verifyToken = "verify-me"  // DaemonHarness's

    struct Rig {
        var daemon: DaemonHarness
        var fake: FakeGraphAPI
        var env: [String: String]
        var secrets: [String] { [DoctorCommandTests.token, WebhookFixture.appSecret, DoctorCommandTests.verifyToken] }
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var checks: [String: JSONValue]
        func status(_ name: String) -> String? { checks[name]?["status"]?.stringValue }
        func found(_ name: String) -> String { checks[name]?["found"]?.stringValue ?? "" }
        func fix(_ name: String) -> String { checks[name]?["fix"]?.stringValue ?? "" }
        var failing: [String] { checks.filter { $0.value["status"]?.stringValue == "fail" }.keys.sorted() }
    }

    func withRig(_ body: (Rig) async throws -> Void) async throws {
        let fake = FakeGraphAPI(expectedToken: Self.token)
        try await fake.start()
        do {
            try await withDaemon(env: ["INSTAGRAM_ACCESS_TOKEN": Self.token, "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL]) { d, redis in
                #expect(chmod(d.dataDir, 0o700) == 0)
                let env = [
                    "INSTAGRAM_APP_SECRET": WebhookFixture.appSecret, "INSTAGRAM_VERIFY_TOKEN": Self.verifyToken,
                    "INSTAGRAM_ACCESS_TOKEN": Self.token, "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL,
                    "REDIS_URL": redis.url, "DMDESK_DATA_DIR": d.dataDir, "DMDESK_SOCKET": d.dataDir + "/dmdesk.sock",
                    // Whatever this machine's disk holds; the low-disk test raises it.
                    "DMDESK_MIN_FREE_DISK_MB": "1",
                ]
                try await body(Rig(daemon: d, fake: fake, env: env))
            }
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    func doctor(_ rig: Rig, _ overrides: [String: String] = [:], json: Bool = true) async throws -> Outcome {
        let env = rig.env.merging(overrides) { _, new in new }
        let cwd = rig.daemon.dataDir
        let (status, out, err) = try await onThread { try runDmdesk(["doctor"] + (json ? ["--json"] : []), cwd: cwd, env: env) }
        for secret in rig.secrets + overrides.filter({ $0.key.contains("TOKEN") || $0.key.contains("SECRET") }).map(\.value)
        where !secret.isEmpty {
            #expect(!out.contains(secret) && !err.contains(secret), "a secret was printed")
        }
        var checks: [String: JSONValue] = [:]
        if json {
            let parsed = try JSONValue.parse(Data(out.utf8))
            for check in parsed["checks"]?.arrayValue ?? [] {
                if let name = check["name"]?.stringValue { checks[name] = check }
            }
            #expect(parsed["ok"]?.boolValue == (status == 0))
        }
        return Outcome(status: status, stdout: out, stderr: err, checks: checks)
    }

    @Test("everything in order: every check ok, one line each, exit 0, no secret printed")
    func allPass() async throws {
        try await withRig { rig in
            let text = try await doctor(rig, json: false)
            #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
            let lines = text.stdout.split(separator: "\n").map(String.init)
            for name in ["config", "data-dir", "socket", "disk", "redis", "app-secret", "token", "listener", "clock"] {
                #expect(lines.contains { $0.hasPrefix("ok    \(name) ") }, "\(name) in \(text.stdout)")
            }
            #expect(!text.stdout.contains("FAIL") && !text.stdout.contains("fix:"))
            #expect(text.stdout.contains("all 9 checks passed"))
            #expect(text.stdout.contains("@dmdesk_demo_shop"))

            let json = try await doctor(rig)
            #expect(json.status == 0 && json.failing.isEmpty && json.checks.count == 9)
            #expect(json.found("listener").contains("verify handshake"))
            #expect(json.found("redis").hasPrefix("PONG"))
            #expect(rig.fake.requests().contains { $0.method == "GET" && $0.path.hasSuffix("/me") })
        }
    }

    @Test("a token Meta refuses (190): the token line names it and says how to get a new one")
    func badToken() async throws {
        try await withRig { rig in
            let wrong = "an-expired-token-abcdefgh"
            let out = try await doctor(rig, ["INSTAGRAM_ACCESS_TOKEN": wrong])
            #expect(out.status == 1)
            #expect(out.failing == ["token"])
            #expect(out.found("token").contains("access token invalid or expired (Meta code 190"))
            #expect(out.fix("token").contains("INSTAGRAM_ACCESS_TOKEN"))
            #expect(out.status("clock") == "ok", "the refusal's Date still counts")

            let text = try await doctor(rig, ["INSTAGRAM_ACCESS_TOKEN": wrong], json: false)
            #expect(text.status == 1)
            #expect(text.stdout.contains("FAIL  token       Meta refused the access token"))
            #expect(text.stdout.contains("      fix: generate a new long-lived token"))
            #expect(text.stdout.contains("1 of 9 checks failed"))

            let missing = try await doctor(rig, ["INSTAGRAM_ACCESS_TOKEN": ""])
            #expect(missing.failing == ["token"] && missing.found("token").contains("not set"))
            #expect(missing.status("clock") == "skip")
        }
    }

    @Test("Redis down or on the wrong port: the redis line says where it looked")
    func redisDown() async throws {
        try await withRig { rig in
            let port = try freeTCPPort()
            let out = try await doctor(rig, ["REDIS_URL": "redis://:hunter2hunter2@127.0.0.1:\(port)/0"])
            #expect(out.status == 1)
            #expect(out.failing == ["redis"])
            #expect(out.found("redis").contains("no PONG from redis://:****@127.0.0.1:\(port)/0"))
            #expect(out.fix("redis").contains("REDIS_URL"))
            #expect(!out.stdout.contains("hunter2hunter2"))
        }
    }

    @Test("no app secret, a data directory others can read, low disk: each fails with its fix")
    func secretPermissionsDisk() async throws {
        try await withRig { rig in
            let noSecret = try await doctor(rig, ["INSTAGRAM_APP_SECRET": ""])
            #expect(noSecret.status == 1 && noSecret.failing == ["app-secret"])
            #expect(noSecret.fix("app-secret").contains("INSTAGRAM_APP_SECRET"))

            let dir = rig.daemon.dataDir
            #expect(chmod(dir, 0o755) == 0)
            let open = try await doctor(rig)
            #expect(chmod(dir, 0o700) == 0)
            #expect(open.status == 1)
            #expect(open.failing == ["data-dir", "socket"], "the socket lives in the data directory here")
            #expect(open.found("data-dir").contains("mode 0755"))
            #expect(open.fix("data-dir") == "chmod 700 \(dir)")

            let low = try await doctor(rig, ["DMDESK_MIN_FREE_DISK_MB": "999999999"])
            #expect(low.status == 1 && low.failing == ["disk"])
            #expect(low.found("disk").contains("under the 999999999 MiB minimum"))
        }
    }

    @Test("no daemon on the socket, or one with another verify token: the listener line says so")
    func listener() async throws {
        try await withRig { rig in
            let none = try await doctor(rig, ["DMDESK_SOCKET": rig.daemon.dataDir + "/nobody.sock"])
            #expect(none.status == 1 && none.failing == ["listener"])
            #expect(none.found("listener").hasPrefix("not running"))
            #expect(none.fix("listener").contains("dmdesk --daemon"))

            let other = try await doctor(rig, ["INSTAGRAM_VERIFY_TOKEN": "another-verify-token"])
            #expect(other.status == 1 && other.failing == ["listener"])
            #expect(other.found("listener").contains("refused the verify handshake (403)"))
        }
    }

    @Test("Meta's Date header five minutes off: the clock check fails; within a few seconds it passes")
    func clockSkew() async throws {
        try await withRig { rig in
            rig.fake.setClockSkew(300)
            let ahead = try await doctor(rig)
            #expect(ahead.status == 1 && ahead.failing == ["clock"])
            #expect(ahead.found("clock").contains("behind Meta's"))
            #expect(ahead.found("clock").contains("299 s") || ahead.found("clock").contains("300 s") || ahead.found("clock").contains("301 s"))
            #expect(ahead.fix("clock").contains("timedatectl set-ntp true"))

            rig.fake.setClockSkew(-120)
            #expect(try await doctor(rig).found("clock").contains("ahead of Meta's"))

            rig.fake.setClockSkew(20)
            #expect(try await doctor(rig).status("clock") == "ok")
        }
    }

    @Test("an invalid configuration: the config line names the mistake, the other checks are skipped")
    func invalidConfig() async throws {
        try await withRig { rig in
            let out = try await doctor(rig, ["PORT": "eighty"])
            #expect(out.status == 1 && out.failing == ["config"])
            #expect(out.found("config").contains("invalid PORT"))
            #expect(out.found("config").contains("eighty"))
            #expect(out.fix("config").contains("dmdesk config"))
            #expect(out.checks.values.filter { $0["status"]?.stringValue == "skip" }.count == 8)
        }
    }
}

@Suite("GraphClient.me against the stand-in")
struct GraphMeTests {
    @Test("GET /me: the account and Meta's Date; a bad token is 190; the stand-in's clock can be skewed")
    func me() async throws {
        let fake = FakeGraphAPI(expectedToken: "good-token-123")
        try await fake.start()
        let good = GraphClient(settings: GraphSettings(instagramBaseURL: fake.instagramBaseURL, accessToken: "good-token-123"), logger: DaemonHarness.quietLogger())
        let answer = try await good.meAnswer()
        let account = try answer.account.get()
        #expect(account.id == WebhookBuilder.accountId && account.username == "dmdesk_demo_shop" && account.name == "Demo Shop")
        #expect(abs(try #require(answer.serverDate).timeIntervalSinceNow) < 3)

        let bad = GraphClient(settings: GraphSettings(instagramBaseURL: fake.instagramBaseURL, accessToken: "bad-token-456"), logger: DaemonHarness.quietLogger())
        await #expect { try await bad.me() } throws: { ($0 as? GraphError)?.isTokenInvalid == true }

        fake.setClockSkew(-600)
        let skewed = try await good.meAnswer()
        #expect(abs(try #require(skewed.serverDate).timeIntervalSinceNow + 600) < 3)
        await fake.stop()
    }
}
