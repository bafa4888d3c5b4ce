import DMDeskCore
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

/// `kill -9` of a real `dmdesk --daemon` while its replies are in flight at a Graph API stand-in that takes 2 s per
/// call, then a restart on the same data directory and port: Meta's Send API has no idempotency key, so whether
/// each reply is sent again depends on what proves it was sent.
@Suite("Replies in flight at kill -9", .enabled(if: dmdeskExecutable() != nil))
struct SendCrashTests {
    static let fallback = "Thanks for your message! We'll get back to you soon."
    static let token = "crash-graph-token"

    enum Proof { case echoes, conversations, none }

    /// Five customers write; once the stand-in holds all five replies (mid-call), the daemon is killed and restarted
    /// on the same data directory and port; `afterRestart` gets the stand-in, the customers and the data directory
    /// while the restarted daemon runs.
    func crashWithRepliesInFlight(
        _ proof: Proof, reconcileSeconds: Int,
        _ afterRestart: (FakeGraphAPI, [String], String) async throws -> Void
    ) async throws {
        try await withRedis { redis in
            let fake = FakeGraphAPI(expectedToken: Self.token, latency: .seconds(2))
            try await fake.start()
            do {
                try await crash(fake, redis: redis, proof, reconcileSeconds: reconcileSeconds, afterRestart)
            } catch {
                await fake.stop()
                throw error
            }
            await fake.stop()
        }
    }

    private func crash(
        _ fake: FakeGraphAPI, redis: RedisServer, _ proof: Proof, reconcileSeconds: Int,
        _ afterRestart: (FakeGraphAPI, [String], String) async throws -> Void
    ) async throws {
        let port = try freeTCPPort()
        if proof == .echoes {
            fake.deliverEchoes(FakeGraphAPI.EchoDelivery(
                webhookURL: "http://127.0.0.1:\(port)/webhooks/instagram", appSecret: WebhookFixture.appSecret,
                retryInterval: .milliseconds(200)))
        }
        fake.recordSentMessagesInConversations(proof == .conversations)
        let dir = try makeTempDirectory(prefix: "dmdesk-crash")
        let env = [
            "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL, "INSTAGRAM_ACCESS_TOKEN": Self.token,
            "DMDESK_REPLY_DELAY_MS": "0", "DMDESK_SEND_RECONCILE_SECONDS": String(reconcileSeconds),
        ]
        let customers = (0..<5).map { "52000000000000\($0)" }
        let first = try await DaemonProcessTests.DaemonProcess.started(redisURL: redis.url, dataDir: dir, extraEnv: env, port: port)
        for (i, customer) in customers.enumerated() {
            #expect(try await first.post(WebhookBuilder.textMessage(from: customer, text: "hello \(i)", mid: "crash.\(i)")) == 200)
        }
        let inFlight = await eventually(timeout: 20) { Self.sendCalls(fake) == customers.count }
        #expect(inFlight, "the stand-in holds every reply: \(Self.sendCalls(fake)) calls")
        #expect(try await first.signalAndWait(SIGKILL) == .signalled(SIGKILL))
        let sending = try await Self.countRows(dir, status: .sending)
        #expect(sending == customers.count, "every reply was in flight at the kill (\(sending) rows sending)")
        // Meta took them all even though nobody heard its answer.
        #expect(await eventually { fake.sentTexts().count == customers.count })

        let again = try DaemonProcessTests.DaemonProcess(redisURL: redis.url, dataDir: dir, extraEnv: env, port: port)
        #expect(await again.waitForHealth(), "\(again.log())")
        do {
            try await afterRestart(fake, customers, dir)
        } catch {
            _ = try? await again.signalAndWait(SIGTERM)
            throw error
        }
        #expect(try await again.signalAndWait(SIGTERM) == .exited(0))
    }

    static func countRows(_ dir: String, status: OutboundRecord.Status) async throws -> Int {
        let store = try SQLiteStore(dataDir: dir)
        let count = try await store.outboxCounts()[status] ?? 0
        try await store.close()
        return count
    }

    static func sendCalls(_ fake: FakeGraphAPI) -> Int {
        fake.requests().filter { $0.method == "POST" && $0.path.hasSuffix("/me/messages") }.count
    }

    /// Waits until every outbox row is settled (sent or failed) and returns them.
    static func settledRows(_ dir: String, count: Int, timeout: Double = 30) async throws -> [OutboundRecord] {
        let store = try SQLiteStore(dataDir: dir)
        var rows: [OutboundRecord] = []
        let settled = await eventually(timeout: timeout) {
            rows = (try? await store.pool.read { db in try OutboundRecord.fetchAll(db, sql: "SELECT * FROM outbound_messages ORDER BY id") }) ?? []
            return rows.count == count && rows.allSatisfy { $0.status == .sent || $0.status == .failed }
        }
        #expect(settled, "rows: \(rows.map { "\($0.id ?? 0) \($0.status)" })")
        try await store.close()
        return rows
    }

    /// Each customer's reply reached the stand-in exactly once, and its row settled as sent with the stand-in's id.
    static func expectEachSentOnce(_ fake: FakeGraphAPI, _ customers: [String], _ dir: String) async throws {
        let rows = try await settledRows(dir, count: customers.count)
        #expect(rows.allSatisfy { $0.status == .sent && $0.remote_message_id?.hasPrefix("m_fake_") == true })
        for customer in customers { #expect(fake.sentTexts(to: customer) == [fallback], "\(customer)") }
    }

    static func operatorLinesAndModes(_ dir: String, _ customers: [String]) async throws -> (operatorLines: Int, human: Int) {
        let store = try SQLiteStore(dataDir: dir)
        let counts = try await store.pool.read { db in
            let lines = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages WHERE author = 'operator'") ?? -1
            let human = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM threads WHERE mode = 'human'") ?? -1
            return (lines, human)
        }
        try await store.close()
        return counts
    }

    @Test("echoes on: each reply reaches the stand-in exactly once; its late echo proves it, no takeover")
    func echoesProve() async throws {
        // A wait far longer than the test: only proof can settle the rows in time.
        try await crashWithRepliesInFlight(.echoes, reconcileSeconds: 600) { fake, customers, dir in
            try await Self.expectEachSentOnce(fake, customers, dir)
            #expect(Self.sendCalls(fake) == customers.count, "no second call")
            let (operatorLines, human) = try await Self.operatorLinesAndModes(dir, customers)
            #expect(operatorLines == 0 && human == 0, "an echo of ours is not an answer typed in the app")
        }
    }

    @Test("echoes off, the Conversations API shows the replies: each reaches the stand-in exactly once")
    func conversationsProve() async throws {
        try await crashWithRepliesInFlight(.conversations, reconcileSeconds: 600) { fake, customers, dir in
            try await Self.expectEachSentOnce(fake, customers, dir)
            #expect(fake.requests().contains { $0.path.hasSuffix("/me/conversations") })
        }
    }

    @Test("no echo and nothing in the Conversations API: each reply is sent again once the wait is over")
    func noProofResends() async throws {
        try await crashWithRepliesInFlight(.none, reconcileSeconds: 2) { fake, customers, dir in
            let resent = await eventually(timeout: 30) { fake.sentTexts().count == 2 * customers.count }
            #expect(resent, "sent: \(fake.sentTexts().count)")
            let rows = try await Self.settledRows(dir, count: customers.count)
            #expect(rows.allSatisfy { $0.status == .sent })
            for customer in customers { #expect(fake.sentTexts(to: customer) == [Self.fallback, Self.fallback], "\(customer)") }
        }
    }
}
