import DMDeskCore
import DMDeskDaemon
import DMDeskDemo
import DMDeskTesting
import Foundation
import Testing

/// The access token over its life: refreshed before it expires and kept, taken up again after a restart, and a
/// refusal (190) told to the manager once.
@Suite("The Instagram token: refresh before expiry, kept across restarts, 190 told once")
struct TokenLifecycleTests {
    static let token = "configured-long-lived-token"
    static let manager = "15550001111"

    static func env(_ fake: FakeGraphAPI, _ extra: [String: String] = [:]) -> [String: String] {
        var env = [
            "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL, "INSTAGRAM_ACCESS_TOKEN": token,
            "DMDESK_REPLY_DELAY_MS": "0", "DMDESK_FALLBACK_COOLDOWN": "off", "WHATSAPP_API_BASE_URL": fake.whatsappBaseURL,
            "WHATSAPP_PHONE_NUMBER_ID": "109876543210", "WHATSAPP_ACCESS_TOKEN": token, "MANAGER_WHATSAPP_NUMBER": manager,
        ]
        env.merge(extra) { _, new in new }
        return env
    }

    static func tokenStatus(_ d: DaemonHarness, type: ControlRequestType = .tokenStatus) async throws -> TokenReport {
        let path = d.dataDir + "/dmdesk.sock"
        return try await onThread {
            let client = try ControlClient.connect(path: path)
            defer { client.close() }
            return try #require(try client.request(ControlRequest(id: 1, type: type), timeout: 30)["token"]).decode(TokenReport.self)
        }
    }

    static func say(_ d: DaemonHarness, _ from: String, _ text: String) async throws {
        let body = WebhookBuilder.textMessage(from: from, text: text, mid: "m_" + UUID().uuidString)
        #expect(try await d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
    }

    static func bearer(of customer: String, in fake: FakeGraphAPI) -> [String?] {
        fake.requests().filter { $0.path.hasSuffix("/me/messages") && $0.body?["recipient"]?["id"]?.idString == customer }
            .map(\.authorization)
    }

    @Test("auto: refreshed at once (expiry unknown), again when ten days are left; kept 0600; used after a restart")
    func refreshBeforeExpiry() async throws {
        try await withRedis { redis in
            let fake = FakeGraphAPI(expectedToken: Self.token)
            try await fake.start()
            defer { Task { await fake.stop() } }
            // The first refreshed token has ten days and two seconds left: due for a refresh two seconds later.
            fake.setRefreshTokenLifetime(seconds: 864_002)
            let dir = try makeTempDirectory(prefix: "dmdesk-token")
            let env = Self.env(fake, ["DMDESK_TOKEN_REFRESH": "auto"])
            let d = try await DaemonHarness(redisURL: redis.url, dataDir: dir, env: env, options: DaemonOptions(graphRetryPolicy: .immediate))
            do {
                #expect(await eventually(timeout: 10) { fake.refreshCount == 1 }, "refreshed at start-up")
                fake.setRefreshTokenLifetime(seconds: 5_184_000)
                #expect(await eventually(timeout: 10) { fake.refreshCount == 2 }, "refreshed again with ten days left")
                #expect(await eventually(timeout: 10) {
                    (AccessTokenFile.load(dataDir: dir, configured: Self.token)?.expiresAt ?? 0) > nowMillis() + 50 * 86_400_000
                }, "the sixty-day token is kept")
                let path = AccessTokenFile.path(dataDir: dir)
                let stored = try #require(AccessTokenFile.load(dataDir: dir, configured: Self.token))
                let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
                #expect(mode & 0o777 == 0o600)
                #expect(stored.accessToken != Self.token)
                let days = Double(stored.expiresAt - nowMillis()) / 86_400_000
                #expect(days > 59.9 && days <= 60, "\(days)")

                let report = try await Self.tokenStatus(d)
                #expect(report.status == "ok" && report.source == "refreshed" && report.refresh == "auto")
                #expect(report.expiresAt == stored.expiresAt)
                #expect(report.nextRefreshAt == stored.expiresAt - 10 * 86_400_000)
                #expect(report.lastCheck == "refreshed")

                // Sends carry the refreshed token.
                try await Self.say(d, "7001", "hello")
                #expect(await eventually(timeout: 10) { !Self.bearer(of: "7001", in: fake).isEmpty })
                #expect(Self.bearer(of: "7001", in: fake) == ["Bearer \(stored.accessToken)"])
                try await Task.sleep(for: .milliseconds(1500))
                #expect(fake.refreshCount == 2, "fifty days to go: no more refreshes")
                #expect(!(try String(contentsOfFile: path, encoding: .utf8)).contains(Self.token))
            } catch {
                try? await d.stop()
                throw error
            }
            try await d.stop()

            // A restart takes the kept token up without refreshing.
            let again = try await DaemonHarness(redisURL: redis.url, dataDir: dir, env: env, options: DaemonOptions(graphRetryPolicy: .immediate))
            do {
                let stored = try #require(AccessTokenFile.load(dataDir: dir, configured: Self.token))
                try await Self.say(again, "7002", "hello")
                #expect(await eventually(timeout: 10) { !Self.bearer(of: "7002", in: fake).isEmpty })
                #expect(Self.bearer(of: "7002", in: fake) == ["Bearer \(stored.accessToken)"])
                #expect(fake.refreshCount == 2)
                #expect(try await Self.tokenStatus(again).source == "refreshed")
            } catch {
                try? await again.stop()
                throw error
            }
            try await again.stop()
        }
    }

    @Test("a failed refresh keeps the token in use and is tried again; `token_refresh` on request")
    func failedRefreshRetries() async throws {
        try await withRedis { redis in
            let fake = FakeGraphAPI(expectedToken: Self.token)
            try await fake.start()
            defer { Task { await fake.stop() } }
            fake.failNext(1, status: 500, code: 2, message: "Service temporarily unavailable")
            let dir = try makeTempDirectory(prefix: "dmdesk-token")
            let d = try await DaemonHarness(
                redisURL: redis.url, dataDir: dir, env: Self.env(fake, ["DMDESK_TOKEN_REFRESH": "auto"]),
                options: DaemonOptions(graphRetryPolicy: .immediate, tokenRetryDelay: .seconds(2)))
            do {
                #expect(await eventually(timeout: 5) {
                    (try? await Self.tokenStatus(d))?.lastCheck?.hasPrefix("refresh failed") == true
                })
                let failed = try await Self.tokenStatus(d)
                #expect(failed.status == "ok" && failed.source == "configured", "a transient error is not a bad token")
                #expect(AccessTokenFile.load(dataDir: dir, configured: Self.token) == nil)
                #expect(await eventually(timeout: 10) { fake.refreshCount == 1 }, "tried again after the delay")
                // Meta has answered; the file is written right after.
                #expect(await eventually(timeout: 5) { AccessTokenFile.load(dataDir: dir, configured: Self.token) != nil })

                let first = try #require(AccessTokenFile.load(dataDir: dir, configured: Self.token))
                let manual = try await Self.tokenStatus(d, type: .tokenRefresh)
                #expect(fake.refreshCount == 2 && manual.source == "refreshed")
                #expect(AccessTokenFile.load(dataDir: dir, configured: Self.token)?.accessToken != first.accessToken)
            } catch {
                try? await d.stop()
                throw error
            }
            try await d.stop()
        }
    }

    @Test("190 on sends: the manager gets one WhatsApp message, /health and token_status say invalid; a refresh clears it")
    func invalidTokenToldOnce() async throws {
        try await withRedis { redis in
            let fake = FakeGraphAPI(expectedToken: Self.token)
            try await fake.start()
            defer { Task { await fake.stop() } }
            let dir = try makeTempDirectory(prefix: "dmdesk-token")
            fake.acceptToken("whatsapp-token")
            let d = try await DaemonHarness(
                redisURL: redis.url, dataDir: dir, env: Self.env(fake, ["WHATSAPP_ACCESS_TOKEN": "whatsapp-token"]),
                options: DaemonOptions(graphRetryPolicy: .immediate))
            do {
                // Meta invalidates the token: every Instagram call is refused with 190 (WhatsApp has its own token).
                fake.revokeToken(Self.token)
                try await Self.say(d, "8001", "hello")
                try await Self.say(d, "8002", "hello")
                #expect(await eventually(timeout: 10) {
                    (try? await d.count("SELECT COUNT(*) FROM outbound_messages WHERE channel = 'instagram' AND status = 'failed'")) == 2
                })
                #expect(await eventually(timeout: 10) { !fake.whatsAppMessages().isEmpty })
                try await Task.sleep(for: .milliseconds(500))
                let told = fake.whatsAppMessages()
                #expect(told.count == 1, "one message, not one per failed send: \(told)")
                let text = told.first?["text"]?["body"]?.stringValue ?? ""
                #expect(text.contains("refused the access token") && text.contains("dmdesk token refresh"), "\(text)")
                #expect(!text.contains(Self.token))

                let health = try await d.health()
                #expect(health["token"]?["status"]?.stringValue == "invalid")
                #expect(health["status"]?.stringValue == "degraded")
                let report = try await Self.tokenStatus(d)
                #expect(report.status == "invalid" && (report.error ?? "").contains("190"), "\(report)")

                // A 190 to `sync` is the same news: no second message to the manager.
                let path = d.dataDir + "/dmdesk.sock"
                let syncRefusal = try await onThread { () throws -> ControlError? in
                    let client = try ControlClient.connect(path: path)
                    defer { client.close() }
                    do {
                        _ = try client.request(ControlRequest(id: 1, type: .sync, after: nowMillis() - 86_400_000), timeout: 30)
                        return nil
                    } catch ControlClientError.server(let error) { return error }
                }
                #expect(syncRefusal?.code == "sync_failed" && (syncRefusal?.message ?? "").contains("190"), "\(String(describing: syncRefusal))")
                try await Task.sleep(for: .milliseconds(300))
                #expect(fake.whatsAppMessages().count == 1)

                // Once Meta takes the token again, a refresh it accepts proves the token works.
                fake.restoreToken(Self.token)
                let refreshed = try await Self.tokenStatus(d, type: .tokenRefresh)
                #expect(refreshed.status == "ok" && refreshed.error == nil)
                #expect(try await d.health()["token"]?["status"]?.stringValue == "ok")

                // And a sync that Meta refuses after that turns it invalid again, by itself.
                fake.revokeToken(try #require(AccessTokenFile.load(dataDir: dir, configured: Self.token)).accessToken)
                _ = try? await onThread {
                    let client = try ControlClient.connect(path: path)
                    defer { client.close() }
                    return try client.request(ControlRequest(id: 1, type: .sync, after: nowMillis() - 86_400_000), timeout: 30)
                }
                #expect(try await Self.tokenStatus(d).status == "invalid", "a 190 from the Conversations API counts")
                #expect(await eventually(timeout: 5) { fake.whatsAppMessages().count == 2 }, "it turned invalid again: told again")
            } catch {
                try? await d.stop()
                throw error
            }
            try await d.stop()
        }
    }

    @Test("`dmdesk token status|refresh`: without a daemon from the data directory, with one over the socket", .enabled(if: dmdeskExecutable() != nil))
    func tokenCommand() async throws {
        try await withRedis { redis in
            let fake = FakeGraphAPI(expectedToken: Self.token)
            try await fake.start()
            defer { Task { await fake.stop() } }
            let dir = try makeTempDirectory(prefix: "dmdesk-token-cli")
            let env = [
                "INSTAGRAM_ACCESS_TOKEN": Self.token, "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL, "DMDESK_DATA_DIR": dir,
                "REDIS_URL": redis.url,
            ]
            func dmdesk(_ args: String...) async throws -> (Int32, String, String) {
                try await onThread { try runDmdesk(["token"] + args, cwd: dir, env: env) }
            }

            var (code, out, err) = try await dmdesk("status")
            #expect(code == 0, "\(err)")
            #expect(out.contains("INSTAGRAM_ACCESS_TOKEN") && out.contains("unknown until the first refresh") && out.contains("not running"), "\(out)")

            (code, out, err) = try await dmdesk("refresh")
            #expect(code == 0 && out.contains("refreshed: the new token expires"), "\(out)\(err)")
            #expect(fake.refreshCount == 1)
            let stored = try #require(AccessTokenFile.load(dataDir: dir, configured: Self.token))
            #expect(!(out + err).contains(stored.accessToken) && !(out + err).contains(Self.token), "no token printed")

            (code, out, _) = try await dmdesk("status", "--json")
            var json = try JSONValue.parse(Data(out.utf8))
            #expect(code == 0 && json["source"]?.stringValue == "refreshed" && json["daemon"] == .bool(false), "\(out)")
            #expect(json["expiresAt"]?.integer(in: 0...Int64.max) == stored.expiresAt)

            // With a daemon running, the commands go through it.
            let d = try await DaemonHarness(redisURL: redis.url, dataDir: dir, env: Self.env(fake), options: DaemonOptions(graphRetryPolicy: .immediate))
            do {
                (code, out, err) = try await dmdesk("refresh", "--json")
                json = try JSONValue.parse(Data(out.utf8))
                #expect(code == 0 && json["daemon"] == .bool(true) && json["lastCheck"]?.stringValue == "refreshed", "\(out)\(err)")
                #expect(fake.refreshCount == 2)
                fake.revokeToken(try #require(AccessTokenFile.load(dataDir: dir, configured: Self.token)).accessToken)
                (code, _, err) = try await dmdesk("refresh")
                #expect(code == 1 && err.contains("Meta refused the token") && err.contains("INSTAGRAM_ACCESS_TOKEN"), "\(err)")
                (code, out, _) = try await dmdesk("status")
                #expect(code == 1 && out.contains("token      invalid"), "\(out)")
            } catch {
                try? await d.stop()
                throw error
            }
            try await d.stop()
        }
    }
}
