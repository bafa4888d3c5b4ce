import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

/// A daemon wired to a Graph API stand-in (Instagram and WhatsApp) and its own redis-server, answering at once and
/// every time (no fallback cooldown: tests of the outbox send one customer several unmatched messages).
struct ReplyRig {
    static let token = "test-graph-token"
    static let manager = "15550001111"
    static let phoneNumberId = "109876543210"

    let d: DaemonHarness
    let fake: FakeGraphAPI
    let redis: RedisServer

    static func env(_ fake: FakeGraphAPI, _ extra: [String: String]) -> [String: String] {
        var env = [
            "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL, "INSTAGRAM_ACCESS_TOKEN": token,
            "DMDESK_REPLY_DELAY_MS": "0", "DMDESK_FALLBACK_COOLDOWN": "off", "WHATSAPP_API_BASE_URL": fake.whatsappBaseURL,
            "WHATSAPP_PHONE_NUMBER_ID": phoneNumberId, "WHATSAPP_ACCESS_TOKEN": token, "MANAGER_WHATSAPP_NUMBER": manager,
        ]
        env.merge(extra) { _, new in new }
        return env
    }

    /// Runs `body` with a fresh rig and always shuts it down.
    static func with(
        env extra: [String: String] = [:], dataDir: String? = nil, prepare: ((String) throws -> Void)? = nil,
        fakeLatency: Duration = .zero, clock: @escaping @Sendable () -> EpochMillis = nowMillis,
        _ body: (ReplyRig) async throws -> Void
    ) async throws {
        try await withRedis { redis in
            let fake = FakeGraphAPI(expectedToken: token, latency: fakeLatency)
            try await fake.start()
            let dir = try dataDir ?? makeTempDirectory(prefix: "dmdesk-replies")
            try prepare?(dir)
            let d = try await DaemonHarness(
                redisURL: redis.url, dataDir: dir, env: env(fake, extra), options: DaemonOptions(graphRetryPolicy: .immediate, clock: clock))
            let rig = ReplyRig(d: d, fake: fake, redis: redis)
            do {
                try await body(rig)
            } catch {
                try? await d.stop()
                await fake.stop()
                throw error
            }
            try await d.stop()
            await fake.stop()
        }
    }

    /// Posts one signed text message; returns its mid.
    @discardableResult
    func say(_ from: String, _ text: String, mid: String = "m_" + UUID().uuidString) async throws -> String {
        let body = WebhookBuilder.textMessage(from: from, text: text, mid: mid)
        let reply = try await d.postWebhook(body, signature: WebhookBuilder.sign(body))
        #expect(reply.status == 200, "webhook: \(reply.body)")
        return mid
    }

    func postback(_ from: String, payload: String, title: String, mid: String = "pb_" + UUID().uuidString) async throws {
        let body = WebhookBuilder.envelope(items: [[
            "sender": ["id": .string(from)], "recipient": ["id": .string(WebhookBuilder.accountId)],
            "timestamp": .number(Double(nowMillis())),
            "postback": ["mid": .string(mid), "title": .string(title), "payload": .string(payload)],
        ]])
        let reply = try await d.postWebhook(body, signature: WebhookBuilder.sign(body))
        #expect(reply.status == 200)
    }

    func texts(_ to: String) -> [String] { fake.sentTexts(to: to) }

    /// Waits until `to` has received exactly `count` texts (returns them); fails the test on timeout.
    @discardableResult
    func waitForTexts(_ to: String, count: Int, timeout: Double = 15) async throws -> [String] {
        let ok = await eventually(timeout: timeout) { texts(to).count >= count }
        #expect(ok, "\(to) got \(texts(to)) — expected \(count) texts")
        return texts(to)
    }

    /// Says "hello" as `customer` and waits until the automatic reply is out and the daemon has settled: a thread
    /// with one answer, where a test about what comes next starts. Returns the texts the customer got.
    @discardableResult
    func greeted(_ customer: String) async throws -> [String] {
        try await say(customer, "hello")
        let texts = try await waitForTexts(customer, count: 1)
        try await waitIdle()
        return texts
    }

    func status(_ mid: String) async throws -> ProcessingStatus? { try await d.store.message(mid: mid)?.status }

    func waitProcessed(_ mids: [String], timeout: Double = 15) async throws {
        let ok = await eventually(timeout: timeout) {
            for mid in mids where (try? await status(mid)) != .processed { return false }
            return true
        }
        var statuses: [ProcessingStatus?] = []
        for mid in mids { statuses.append((try? await status(mid)) ?? nil) }
        #expect(ok, "statuses: \(statuses)")
    }

    /// Settles: nothing pending or processing, every outbox row finished, and the daemon idle (nothing due, no
    /// batch, agent run or send in flight): whatever was going to happen without new input has happened.
    func waitIdle(timeout: Double = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        let ok = await eventually(timeout: timeout) {
            let messages = try? await d.count("SELECT COUNT(*) FROM messages WHERE status IN ('pending','processing')")
            let outbox = try? await d.count("SELECT COUNT(*) FROM outbound_messages WHERE status IN ('pending','sending')")
            return messages == 0 && outbox == 0
        }
        #expect(ok, "the daemon did not settle")
        try await d.waitUntilIdle(timeout: deadline - .now)
    }

    func outbox(_ thread: String) async throws -> [OutboundRecord] { try await d.store.outbound(thread: thread) }
}
