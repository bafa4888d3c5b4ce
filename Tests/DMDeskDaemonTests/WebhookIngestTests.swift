import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("Webhook listener: real HTTP, real SQLite, real redis-server")
struct WebhookIngestTests {
    let customer = "1150723386611240"

    @Test("every shared fixture is accepted with its recorded signature and stored")
    func everyFixture() async throws {
        try await withDaemon { d, _ in
            let fixtures = try WebhookFixture.all()
            #expect(fixtures.count >= 15)
            // text and story_reply first so reactions, reads, deletes and echoes find the messages they name.
            let order = ["text.json", "story_reply.json", "echo.json"]
            let sorted = fixtures.sorted { (order.firstIndex(of: $0.name) ?? 99) < (order.firstIndex(of: $1.name) ?? 99) }
            for fixture in sorted {
                let reply = try await d.post(fixture)
                #expect(reply.status == 200, "\(fixture.name): \(reply.body)")
                #expect(reply.body == "EVENT_RECEIVED")
            }
            let text = try #require(try await d.store.message(mid: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDA4NDYwMDU2OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTY2MDY1MTE4ODY3NjM1MjozMTkzNjUxNTk2NDQ5ODk0NTk2NjY3NjgyMDAzNjI4OTQ3MgZDZD"))
            #expect(text.text == "Hi! Is the blue hoodie still in stock?")
            #expect(text.timestamp == 1_732_189_999_123)
            #expect(text.status == .pending)

            let image = try #require(try await d.store.message(mid: "mid.attach.0001"))
            #expect(image.view.attachments == [Attachment(type: "image", url: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=abc")])

            let story = try #require(try await d.store.message(mid: "mid.story.0001"))
            #expect(story.reply_to_story == nil, "unsent: its story link is erased with it")
            #expect(story.deleted, "deleted.json names the story reply")

            let echo = try #require(try await d.store.message(mid: "mid.echo.0001"))
            #expect(echo.direction == .outbound && echo.author == .operator)
            #expect(echo.reactions == nil, "reaction.json then unreaction.json leave no reaction")
            #expect(echo.read, "read.json marks our message read")
            #expect(try await d.store.thread(customer)?.mode == .human, "an echo we did not send hands the thread to a person")

            let postback = try #require(try await d.store.message(mid: "mid.postback.0001"))
            #expect(postback.payload == "HUMAN_AGENT" && postback.text == "Talk to a human")
            #expect(try await d.store.message(mid: "mid.qr.0001")?.payload == "ORDER_STATUS")

            let dashboard = try #require(try await d.store.message(mid: "random_mid"))
            #expect(dashboard.thread_id == "12334" && dashboard.timestamp == 1_527_459_824_000)

            let standby = try #require(try await d.store.message(mid: "mid.standby.0001"))
            #expect(standby.source == .standby && standby.status == .processed, "the bot never answers a thread another app owns")

            let raw = try #require(try await d.store.message(mid: "mid.uni.0001"))
            let escaped = try #require(try await d.store.message(mid: "mid.uni.0002"))
            #expect(raw.text == escaped.text)
            #expect(escaped.text == "äöå — 你好 👋🏽 👨‍👩‍👧")

            for mid in ["mid.batch.0001", "mid.batch.0002", "mid.batch.0003"] {
                #expect(try await d.store.message(mid: mid) != nil, "\(mid) from batch.json")
            }
        }
    }

    @Test("a redelivered webhook adds no row and no event")
    func redelivery() async throws {
        try await withDaemon { d, redis in
            let fixture = try WebhookFixture.named("batch.json")
            #expect(try await d.post(fixture).status == 200)
            let messages = try await d.count("SELECT COUNT(*) FROM messages")
            let events = try await d.count("SELECT COUNT(*) FROM events")
            #expect(messages == 3)
            #expect(try await d.post(fixture).status == 200)
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == messages)
            #expect(try await d.count("SELECT COUNT(*) FROM events") == events)
            #expect(try await d.store.thread(customer)?.unread == 2)
            #expect(try redis.list("chat:\(customer)").count == 2, "no second context entry either")
        }
    }

    @Test("signatures: missing, malformed, wrong, and for another body are refused with 401 and store nothing")
    func signatures() async throws {
        try await withDaemon { d, _ in
            let fixture = try WebhookFixture.named("text.json")
            let other = try WebhookFixture.named("batch.json")
            for signature in [nil, "", "sha256=zz", "sha1=" + String(repeating: "0", count: 40), other.signature,
                              WebhookBuilder.sign(fixture.body, secret: "wrong-secret")] {
                let reply = try await d.postWebhook(fixture.body, signature: signature)
                #expect(reply.status == 401, "signature \(signature ?? "nil")")
            }
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 0)
            #expect(try await d.count("SELECT COUNT(*) FROM events") == 0)
            // Upper-case hex is still the same signature.
            let upper = "sha256=" + fixture.signature.dropFirst(7).uppercased()
            #expect(try await d.postWebhook(fixture.body, signature: upper).status == 200)
        }
    }

    @Test("broken JSON → 400, a non-object → 400, another object → 200 ignored, over 1 MiB → 413")
    func badBodies() async throws {
        try await withDaemon { d, _ in
            for body in ["{\"object\":\"instagram\",\"entry\":[", "[1,2,3]", "\"just a string\"", "\u{FEFF}"] {
                let data = Data(body.utf8)
                let reply = try await d.postWebhook(data, signature: WebhookBuilder.sign(data))
                #expect(reply.status == 400, "body \(body)")
            }
            let page = Data(#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"9"},"message":{"mid":"m.page","text":"x"}}]}]}"#.utf8)
            #expect(try await d.postWebhook(page, signature: WebhookBuilder.sign(page)).status == 200)
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 0)

            let huge = Data(repeating: UInt8(ascii: " "), count: (1 << 20) + 10)
            #expect(try await d.postWebhook(huge, signature: WebhookBuilder.sign(huge)).status == 413)
            // The daemon is still fine afterwards.
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
        }
    }

    @Test("GET handshake: subscribe + matching token → challenge as text/plain; anything else → 403")
    func handshake() async throws {
        try await withDaemon { d, _ in
            for path in ["/webhooks/instagram", "/webhook", "/api/webhooks/instagram"] {
                let ok = try await d.request(.GET, path + "?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444")
                #expect(ok.status == 200)
                #expect(ok.body == "1158201444")
                #expect(ok.contentType?.hasPrefix("text/plain") == true)
            }
            for query in ["hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1", "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", "hub.challenge=1", ""] {
                #expect(try await d.request(.GET, "/webhooks/instagram?" + query).status == 403, "query \(query)")
            }
        }
    }

    @Test("Redis context: RPUSH {r:u,t:…}, trimmed to the last 20, expiring in 24 h")
    func redisContext() async throws {
        try await withDaemon { d, redis in
            for i in 1...25 {
                let body = WebhookBuilder.textMessage(from: "777", text: "msg \(i) \"quoted\" ✨", mid: "ctx.\(i)", timestamp: 1_732_190_000_000 + Int64(i))
                #expect(try await d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            }
            let list = try redis.list("chat:777")
            #expect(list.count == 20)
            #expect(list.first == #"{"r":"u","t":"msg 6 \"quoted\" ✨"}"#)
            #expect(list.last == #"{"r":"u","t":"msg 25 \"quoted\" ✨"}"#)
            let ttl = try redis.ttl("chat:777")
            #expect(ttl > 86_000 && ttl <= 86_400)
            // Attachments carry no text: no context entry.
            #expect(try await d.post(WebhookFixture.named("attachment_image.json")).status == 200)
            #expect(try redis.list("chat:\(customer)").isEmpty)
        }
    }

    @Test("Redis stopped mid-run: ingest goes on with SQLite, /health says so, contexts resume when it is back")
    func redisOutage() async throws {
        let redis = try RedisServer()
        try redis.start()
        let d = try await DaemonHarness(redisURL: redis.url)
        func send(_ i: Int) async throws -> Int {
            let body = WebhookBuilder.textMessage(from: "555", text: "outage \(i)", mid: "out.\(i)")
            return try await d.postWebhook(body, signature: WebhookBuilder.sign(body)).status
        }
        #expect(try await send(1) == 200)
        #expect(try await d.health()["redis"]?["status"] == "up")
        redis.stop()
        #expect(try await send(2) == 200)
        #expect(try await send(3) == 200)
        #expect(try await d.count("SELECT COUNT(*) FROM messages") == 3, "nothing lost while Redis is down")
        let health = try await d.health()
        #expect(health["redis"]?["status"] == "down")
        #expect(health["redis"]?["last_error"]?.stringValue?.isEmpty == false)
        #expect(health["status"] == "degraded")

        let restarted = try RedisServer(port: redis.port)
        try restarted.start()
        defer { restarted.stop() }
        #expect(await eventually { (try? await d.health()["redis"]?["status"]) == "up" })
        #expect(try await send(4) == 200)
        #expect(try restarted.list("chat:555") == [#"{"r":"u","t":"outage 4"}"#])
        try await d.stop()
    }

    @Test("a daemon restarted on the same data directory keeps everything")
    func restartKeepsData() async throws {
        try await withRedis { redis in
            let (dir, seq) = try await DaemonHarness.previousRun(redisURL: redis.url, storing: "batch.json")
            let second = try await DaemonHarness(redisURL: redis.url, dataDir: dir)
            #expect(try await second.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'") == 3)
            #expect(try await second.count("SELECT COUNT(*) FROM events WHERE seq <= \(seq)") == Int(seq), "the journal is intact")
            #expect(try await second.post(WebhookFixture.named("batch.json")).status == 200)
            #expect(try await second.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'") == 3, "dedupe survives the restart")
            #expect(try await second.post(WebhookFixture.named("text.json")).status == 200)
            #expect(try await second.store.lastSeq() > seq)
            try await second.stop()
        }
    }

    @Test("/health reports SQLite, Redis, uptime and counts")
    func health() async throws {
        try await withDaemon { d, _ in
            #expect(try await d.post(WebhookFixture.named("batch.json")).status == 200)
            let h = try await d.health()
            #expect(h["status"] == "ok")
            #expect(h["sqlite"]?["status"] == "up")
            #expect(h["counts"]?["messages"] == 3)
            #expect(h["counts"]?["threads"] == 2)
            #expect(h["uptime_s"]?.doubleValue != nil)
        }
    }

    @Test("with no app secret the daemon refuses to start unless unsigned webhooks are allowed")
    func unsignedRequiresFlag() async throws {
        let dir = try makeTempDirectory()
        let config = try DaemonHarness.config(dataDir: dir, redisURL: "redis://127.0.0.1:1", env: ["INSTAGRAM_APP_SECRET": ""])
        #expect(config.appSecret == nil)
        #expect(throws: DaemonError.self) { try Daemon(config: config, logger: DaemonHarness.quietLogger()) }
        let d = try await DaemonHarness(
            redisURL: "redis://127.0.0.1:1", dataDir: dir, env: ["INSTAGRAM_APP_SECRET": ""],
            options: DaemonOptions(allowUnsigned: true))
        let body = WebhookBuilder.textMessage(from: "42", text: "unsigned", mid: "unsigned.1")
        #expect(try await d.postWebhook(body, signature: nil).status == 200)
        #expect(try await d.store.message(mid: "unsigned.1")?.text == "unsigned")
        try await d.stop()
    }

    @Test("a port in use is one clear error")
    func portInUse() async throws {
        try await withRedis { redis in
            let first = try await DaemonHarness(redisURL: redis.url)
            let dir = try makeTempDirectory()
            let config = try DaemonHarness.config(dataDir: dir, redisURL: redis.url, env: ["PORT": String(first.port)])
            let second = try Daemon(config: config, logger: DaemonHarness.quietLogger())
            await #expect {
                try await second.run()
            } throws: { error in
                "\(error)".contains("port \(first.port)") && "\(error)".contains("already in use")
            }
            try await first.stop()
        }
    }
}
