import DMDeskCore
@testable import DMDeskDaemon
import DMDeskGraph
import DMDeskStore
import DMDeskTesting
import Foundation
import Logging
import Testing

/// One request over the daemon's real control socket (on a thread of its own: the client blocks).
func controlCall(_ request: ControlRequest, socket: String, timeout: Double = 60) async throws -> Result<JSONValue, ControlError> {
    try await onThread { () throws -> Result<JSONValue, ControlError> in
        let client = try ControlClient.connect(path: socket)
        defer { client.close() }
        do { return .success(try client.request(request, timeout: timeout)) } catch ControlClientError.server(let error) {
            return .failure(error)
        }
    }
}

@Suite("Webhook health and sync: the last webhook's age, silence while Meta has more, `sync` filling a gap (real HTTP, stand-in)")
struct WebhookHealthSyncTests {
    static func signedText(_ from: String, _ text: String, mid: String = "m_" + UUID().uuidString) -> (Data, String) {
        let body = WebhookBuilder.textMessage(from: from, text: text, mid: mid)
        return (body, WebhookBuilder.sign(body))
    }

    @Test("a signed delivery sets last_webhook_at (a badly signed one does not); /health and status show it; it survives a restart")
    func lastWebhookSurvivesRestart() async throws {
        try await withRedis { redis in
            let first = try await DaemonHarness(redisURL: redis.url)
            var health = try await first.health()
            #expect(health["last_webhook_at"] == .null)
            #expect(health["webhooks"]?["status"]?.stringValue == "never")

            let (body, signature) = Self.signedText("4001", "hello")
            #expect(try await first.postWebhook(body, signature: "sha256=" + String(repeating: "0", count: 64)).status == 401)
            health = try await first.health()
            #expect(health["last_webhook_at"] == .null, "a refused delivery is not a webhook arriving")

            let before = nowMillis()
            #expect(try await first.postWebhook(body, signature: signature).status == 200)
            health = try await first.health()
            let shown = health["last_webhook_at"]?.stringValue
            #expect(shown != nil)
            let age = health["last_webhook_age_seconds"]?.doubleValue ?? -1
            #expect(age >= 0 && age < 5, "age \(age)")
            #expect(health["webhooks"]?["status"]?.stringValue == "ok")
            #expect(health["status"]?.stringValue == "ok")

            let status = try await controlCall(ControlRequest(id: 1, type: .status), socket: first.dataDir + "/dmdesk.sock").get()
            let daemonStatus = try #require(try status["status"]?.decode(DaemonStatus.self))
            #expect((daemonStatus.lastWebhookAt ?? 0) >= before)
            #expect(daemonStatus.webhooks == "ok")
            try await first.stop()

            let second = try await DaemonHarness(redisURL: redis.url, dataDir: first.dataDir)
            health = try await second.health()
            #expect(health["last_webhook_at"]?.stringValue == shown, "restored from the store, not reset to never")
            #expect(health["webhooks"]?["status"]?.stringValue == "ok")
            try await second.stop()
        }
    }

    @Test("past DMDESK_WEBHOOK_SILENCE health says webhooks may be failing only when the stand-in has newer messages; a webhook clears it")
    func silenceWithNewerMessages() async throws {
        let clock = TestClock(nowMillis())
        try await ReplyRig.with(env: ["DMDESK_WEBHOOK_SILENCE": "6h"], clock: clock.read) { rig in
            let customer = "5001"
            try await rig.greeted(customer)  // the bot's reply is in the stand-in's conversation too: known, not missing
            #expect(try await rig.d.health()["webhooks"]?["status"]?.stringValue == "ok")

            clock.advance(hours: 7)
            let checked = await eventually(timeout: 10) {
                (try? await rig.d.health()["webhooks"]?["last_check_at"]?.stringValue) != nil
            }
            #expect(checked, "the silence check ran")
            var health = try await rig.d.health()
            #expect(health["webhooks"]?["status"]?.stringValue == "silent", "quiet, but Meta has nothing newer: \(health)")
            #expect(health["status"]?.stringValue == "ok")

            rig.fake.addUndeliveredMessage(customer: customer, text: "are you there?", at: Date().addingTimeInterval(2))
            clock.advance(hours: 1)  // past the recheck interval
            let failing = await eventually(timeout: 10) {
                (try? await rig.d.health()["webhooks"]?["status"]?.stringValue) == "failing"
            }
            health = try await rig.d.health()
            #expect(failing, "\(health)")
            #expect(health["status"]?.stringValue == "degraded")
            #expect(health["webhooks"]?["reason"]?.stringValue?.contains("webhooks may be failing") == true)
            let status = try await controlCall(ControlRequest(id: 1, type: .status), socket: rig.d.dataDir + "/dmdesk.sock").get()
            let daemonStatus = try #require(try status["status"]?.decode(DaemonStatus.self))
            #expect(daemonStatus.webhooks == "failing")
            #expect(daemonStatus.webhookWarning?.contains("webhooks may be failing") == true)

            try await rig.say("5002", "back again")
            health = try await rig.d.health()
            #expect(health["webhooks"]?["status"]?.stringValue == "ok", "a webhook arrived: \(health)")
            #expect(health["status"]?.stringValue == "ok")
        }
    }

    @Test("sync fills a gap across pages with no reply sent, marks the messages synced, and is idempotent; a rate limit stops it with a clear error")
    func syncFillsGap() async throws {
        try await ReplyRig.with { rig in
            let socket = rig.d.dataDir + "/dmdesk.sock"
            let customer = "6001"
            let hello = try await rig.say(customer, "hello")
            _ = try await rig.waitForTexts(customer, count: 1)
            try await rig.waitIdle()
            let sentBefore = rig.fake.instagramMessages().count

            // Meta has the delivered message too, and what webhooks never brought: two of the customer's, one answer
            // typed in the Instagram app, and one message each from 55 others (two pages of conversations).
            let now = Date()
            rig.fake.addUndeliveredMessage(customer: customer, text: "hello", at: now.addingTimeInterval(-120), mid: hello)
            rig.fake.addUndeliveredMessage(customer: customer, text: "do you ship to Porto?", at: now.addingTimeInterval(-60))
            rig.fake.addUndeliveredMessage(customer: customer, text: "and to Faro?", at: now.addingTimeInterval(-50))
            rig.fake.addUndeliveredMessage(customer: customer, text: "Yes, both!", fromCustomer: false, at: now.addingTimeInterval(-40))
            for i in 0..<55 {
                rig.fake.addUndeliveredMessage(customer: "61\(100 + i)", text: "hi \(i)", at: now.addingTimeInterval(Double(-3600 - i)))
            }
            rig.fake.addUndeliveredMessage(customer: "6999", text: "long ago", at: now.addingTimeInterval(-10 * 86400))
            let seqBefore = try await rig.d.store.lastSeq()

            let week = nowMillis() - 7 * 86_400_000
            let first = try await controlCall(ControlRequest(id: 1, type: .sync, after: week), socket: socket).get()
            let report = try first.decode(SyncReport.self)
            #expect(report.pages == 2, "\(report)")
            #expect(report.conversations == 56, "\(report)")
            #expect(report.inserted == 58, "\(report)")
            #expect(report.known == 2, "the webhook's message and the bot's reply: \(report)")

            try await rig.waitIdle()
            try await Task.sleep(for: .milliseconds(300))
            #expect(rig.fake.instagramMessages().count == sentBefore, "no reply to synced messages")
            #expect(try await rig.d.count("SELECT COUNT(*) FROM messages WHERE source = 'sync' AND status = 'processed'") == 57)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM messages WHERE source = 'sync' AND direction = 'out'") == 1)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM messages WHERE thread_id = '6999'") == 0, "older than --since")

            let history = try await controlCall(ControlRequest(id: 2, type: .history, thread: customer), socket: socket).get()
            let lines = history["messages"]?.arrayValue ?? []
            let synced = lines.filter { $0["synced"]?.boolValue == true }.compactMap { $0["text"]?.stringValue }
            #expect(synced == ["do you ship to Porto?", "and to Faro?", "Yes, both!"], "\(lines)")
            #expect(lines.first { $0["id"]?.stringValue == hello }?["synced"] == nil)

            let events = try await rig.d.store.journal(after: seqBefore, limit: 1000)
            #expect(events.filter { $0.type == EventType.messageReceived }.count == 57)
            #expect(events.filter { $0.type == EventType.messageSent }.count == 1)

            let again = try await controlCall(ControlRequest(id: 3, type: .sync, after: week), socket: socket).get().decode(SyncReport.self)
            #expect(again.inserted == 0 && again.fetched == 0 && again.known == 60, "\(again)")
            #expect(try await rig.d.count("SELECT COUNT(*) FROM messages WHERE source = 'sync'") == 58)

            rig.fake.rateLimitConversations(after: 3)
            let limited = try await controlCall(ControlRequest(id: 4, type: .sync, after: week), socket: socket)
            guard case .failure(let error) = limited else {
                Issue.record("a rate-limited sync succeeded")
                return
            }
            #expect(error.code == "sync_failed")
            #expect(error.message.contains("rate limit"), "\(error.message)")
            rig.fake.rateLimitConversations(after: nil)

            let missing = try await controlCall(ControlRequest(id: 5, type: .sync), socket: socket)
            if case .failure(let e) = missing { #expect(e.code == "bad_request") } else { Issue.record("sync without after") }
        }
    }

    @Test("the stand-in's Conversations API pages like Meta, answers 190 for a bad token and (#100) past the 20 most recent")
    func standInConversationsAPI() async throws {
        let fake = FakeGraphAPI(expectedToken: "good-token")
        try await fake.start()
        do { try await checkStandIn(fake) } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    func checkStandIn(_ fake: FakeGraphAPI) async throws {
        let customer = "7001"
        var ids: [String] = []
        for i in 0..<22 {
            ids.append(fake.addUndeliveredMessage(customer: customer, text: "m\(i)", at: Date().addingTimeInterval(Double(i - 30))))
        }
        for i in 0..<4 { fake.addUndeliveredMessage(customer: "72\(i)", text: "x", at: Date().addingTimeInterval(Double(-100 - i))) }
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let graph = GraphClient(
            settings: GraphSettings(instagramBaseURL: fake.instagramBaseURL, accessToken: "good-token"), logger: quiet)
        var seen: [String] = []
        var after: String? = nil
        var pages = 0
        repeat {
            let page = try await graph.conversations(after: after, limit: 2)
            seen += page.conversations.map(\.id)
            after = page.after
            pages += 1
        } while after != nil && pages < 10
        #expect(pages == 3 && seen.count == 5 && Set(seen).count == 5, "\(seen)")
        #expect(seen.first == "conv_" + customer, "newest activity first")

        let refs = try await graph.conversationMessageRefs("conv_" + customer)
        #expect(refs.count == 22 && refs.first?.id == ids.last, "newest first")
        let newest = try await graph.message(ids[21])
        #expect(newest.text == "m21" && newest.fromId == customer && newest.createdAt != nil)
        await #expect(throws: GraphError.self) { _ = try await graph.message(ids[0]) }  // not among the 20 most recent

        let bad = GraphClient(
            settings: GraphSettings(instagramBaseURL: fake.instagramBaseURL, accessToken: "wrong-token"), logger: quiet)
        let refused: Result<GraphConversationPage, GraphError>
        do { refused = .success(try await bad.conversations()) } catch { refused = .failure(error) }
        guard case .failure(let error) = refused else {
            Issue.record("a bad token was accepted")
            return
        }
        #expect(error.isTokenInvalid)
    }

    @Test("the binary: `dmdesk status` says when the last webhook came; `dmdesk sync` prints its counts; a bad --since is usage",
          .enabled(if: dmdeskExecutable() != nil))
    func commands() async throws {
        try await ReplyRig.with(env: ["DMDESK_REPLY_DELAY_MS": "600000"]) { rig in
            let socket = rig.d.dataDir + "/dmdesk.sock"
            let cwd = rig.d.dataDir
            let (never, neverOut, _) = try await onThread { try runDmdesk(["status", "--socket", socket], cwd: cwd) }
            #expect(never == 0 && neverOut.contains("last webhook: never"), "\(neverOut)")

            try await rig.say("8001", "hello")
            let (ok, out, _) = try await onThread { try runDmdesk(["status", "--socket", socket], cwd: cwd) }
            #expect(ok == 0 && out.contains("last webhook just now"), "\(out)")
            #expect(out.contains("sqlite") && !out.contains("WARNING"))

            rig.fake.addUndeliveredMessage(customer: "8002", text: "never delivered")
            let (synced, syncOut, syncErr) = try await onThread { try runDmdesk(["sync", "--since", "2d", "--socket", socket], cwd: cwd) }
            #expect(synced == 0, "\(syncErr)")
            #expect(syncOut.contains("1 conversations") && syncOut.contains("1 inserted"), "\(syncOut)")
            #expect(try await rig.d.store.thread("8002")?.unread == 1, "the synced message is in its thread")

            let (usage, _, usageErr) = try await onThread { try runDmdesk(["sync", "--since", "7", "--socket", socket], cwd: cwd) }
            #expect(usage == 2 && usageErr.contains("no unit"), "\(usageErr)")
        }
    }

    @Test("DMDESK_WEBHOOK_SILENCE and DMDESK_SYNC_EVERY are checked, and a mistake is named")
    func configChecks() throws {
        func load(_ env: [String: String]) throws -> DMDeskConfig {
            var vars = ["HOME": NSTemporaryDirectory()]
            vars.merge(env) { _, new in new }
            return try DMDeskConfig(ResolvedConfig.load(environment: vars, configFile: nil, dotenvPath: nil), environment: vars)
        }
        #expect(try load([:]).webhookSilence.seconds == 6 * 3600)
        #expect(try load([:]).syncEvery == nil)
        #expect(try load(["DMDESK_SYNC_EVERY": "30m"]).syncEvery?.seconds == 1800)
        do {
            _ = try load(["DMDESK_WEBHOOK_SILENCE": "6"])
            Issue.record("a silence without a unit was accepted")
        } catch {
            #expect("\(error)".contains("DMDESK_WEBHOOK_SILENCE"), "\(error)")
        }
    }
}

@Suite("Webhook health in the console's status bar (tmux)", .serialized)
struct WebhookHealthInTerminalTests {
    @Test("silent past a 1 s silence while the stand-in has a message never delivered: \"webhooks failing?\"; a webhook: \"webhook now\"",
          .enabled(if: ConsoleInTerminalTests.enabled))
    func statusBar() async throws {
        let rig = try await ConsoleInTerminalTests.Rig.start(env: ["DMDESK_WEBHOOK_SILENCE": "1s"], width: 140, height: 30)
        do {
            #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
            rig.fake.addUndeliveredMessage(customer: "9002", text: "did you get this?")
            let (failing, screen) = await rig.terminal.waitAsync("webhooks failing?")
            #expect(failing, "status bar:\n\(screen)")
            try await rig.customerSays("hello again")
            let (cleared, after) = await rig.terminal.waitAsync { $0.contains("webhook now") && !$0.contains("failing?") }
            #expect(cleared, "status bar:\n\(after)")
        } catch {
            try? await rig.stop()
            throw error
        }
        try await rig.stop()
    }
}
