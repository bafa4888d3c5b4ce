import DMDeskCore
import DMDeskDaemon
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("Replies: outbox retries, restarts and manual sends")
struct RepliesOutboxTests {
    static let fallback = "Thanks for your message! We'll get back to you soon."

    func sendCalls(_ fake: FakeGraphAPI) -> Int {
        fake.requests().filter { $0.method == "POST" && $0.path.hasSuffix("/me/messages") }.count
    }

    /// A first exchange, so the one-off profile lookup is done and injected failures hit the reply we watch.
    /// Returns the number of send calls so far.
    func warmUp(_ rig: ReplyRig, _ customer: String) async throws -> Int {
        try await rig.say(customer, "first")
        try await rig.waitForTexts(customer, count: 1)
        let fetched = await eventually { rig.fake.requests().contains { $0.method == "GET" && $0.path.hasSuffix("/" + customer) } }
        #expect(fetched)
        // The lookup's answer is stored, so it is over (no retry of it can take an injected failure).
        let saved = await eventually {
            (try? await rig.d.count("SELECT COUNT(*) FROM profiles WHERE id = '\(customer)' AND profile_fetched_at IS NOT NULL")) == 1
        }
        #expect(saved)
        try await rig.waitIdle()
        return sendCalls(rig.fake)
    }

    /// An error the Send API answers with, once.
    struct SendFailure {
        var status: Int
        var code: Int
        var subcode: Int?
        var message: String
    }

    /// After the first exchange (`warmUp`), the next Send API calls fail as `failures` say, in order, and the customer
    /// says "hello": its reply is the one the test watches. Returns the number of send calls before that reply.
    func replyMeeting(_ failures: [SendFailure], _ rig: ReplyRig, _ customer: String) async throws -> Int {
        let before = try await warmUp(rig, customer)
        for f in failures { rig.fake.failNext(1, status: f.status, code: f.code, subcode: f.subcode, message: f.message) }
        try await rig.say(customer, "hello")
        return before
    }

    /// The outbox row of the customer's latest reply once it has failed (the test fails if it never does).
    func failedReply(_ rig: ReplyRig, _ customer: String) async throws -> OutboundRecord {
        let failed = await eventually { (try? await rig.outbox(customer).last?.status) == .failed }
        #expect(failed)
        return try #require(try await rig.outbox(customer).last)
    }

    @Test("a 500 and a code 4 are retried, then the reply is sent once")
    func transientErrorsRetried() async throws {
        try await ReplyRig.with { rig in
            let customer = "2100000000000001"
            let before = try await replyMeeting([
                SendFailure(status: 500, code: 1, message: "An unknown error occurred"),
                SendFailure(status: 400, code: 4, message: "Application request limit reached"),
            ], rig, customer)
            #expect(try await rig.waitForTexts(customer, count: 2) == [Self.fallback, Self.fallback])
            try await rig.waitIdle()
            let row = try #require(try await rig.outbox(customer).last)
            #expect(row.status == .sent && row.attempts == 3 && row.error == nil)
            #expect(sendCalls(rig.fake) - before == 3)
        }
    }

    @Test("code 10 (outside the window) fails at once with the reason stored")
    func code10NotRetried() async throws {
        try await ReplyRig.with { rig in
            let customer = "2100000000000002"
            let before = try await replyMeeting([
                SendFailure(status: 400, code: 10, subcode: 2534022, message: "(#10) This message is sent outside of allowed window.")
            ], rig, customer)
            let row = try await failedReply(rig, customer)
            #expect(row.attempts == 1)
            #expect(row.error?.contains("allowed window") == true || row.error?.contains("24") == true, "\(row.error ?? "")")
            #expect(sendCalls(rig.fake) - before == 1)
            // The conversation line shows the failure too.
            #expect(try await rig.d.store.history(thread: customer).last?.delivery == .failed)
            #expect(try await rig.d.health()["token"]?["status"]?.stringValue == "ok")
        }
    }

    @Test("code 190 fails at once and puts the daemon in the token-invalid state shown by /health")
    func code190NotRetried() async throws {
        try await ReplyRig.with { rig in
            let customer = "2100000000000003"
            let before = try await replyMeeting([
                SendFailure(status: 401, code: 190, message: "Error validating access token: Session has expired")
            ], rig, customer)
            #expect(try await failedReply(rig, customer).attempts == 1)
            #expect(sendCalls(rig.fake) - before == 1)
            let health = try await rig.d.health()
            #expect(health["token"]?["status"]?.stringValue == "invalid")
            #expect(health["status"]?.stringValue == "degraded")
        }
    }

    @Test("a restart with pending outbox rows and interrupted batches sends each exactly once")
    func restartSendsOnce() async throws {
        let dir = try makeTempDirectory(prefix: "dmdesk-restart")
        let customers = ["2100000000000010", "2100000000000011"]
        // A previous run queued three DMs and died; one batch was mid-flight (processing).
        do {
            let store = try SQLiteStore(dataDir: dir)
            for (i, customer) in customers.enumerated() {
                _ = try await store.ingest([
                    WebhookParser.parse(WebhookBuilder.textMessage(from: customer, text: "earlier \(i)", mid: "m_old_\(i)")).events[0]
                ])
            }
            try await store.pool.write { db in
                try db.execute(sql: "UPDATE messages SET status = 'processed' WHERE mid = 'm_old_0'")
                try db.execute(sql: "UPDATE messages SET status = 'processing' WHERE mid = 'm_old_1'")
            }
            for text in ["queued one", "queued two", "queued three"] {
                _ = try await store.enqueue(OutboundDraft(thread: customers[0], recipient: customers[0], kind: .manual, text: text, author: .operator))
            }
            try await store.close()
        }
        try await ReplyRig.with(dataDir: dir) { rig in
            #expect(try await rig.waitForTexts(customers[0], count: 3) == ["queued one", "queued two", "queued three"])
            #expect(try await rig.waitForTexts(customers[1], count: 1) == [Self.fallback], "the interrupted batch is answered")
            try await rig.waitIdle()
            #expect(rig.texts(customers[0]).count == 3, "idle, each queued DM sent once")
            #expect(rig.texts(customers[1]).count == 1)
        }
        // And another restart sends nothing again.
        try await ReplyRig.with(dataDir: dir) { rig in
            // Start-up resumed the outbox and scheduled pending threads before listening; idle, it sent nothing.
            try await rig.d.waitUntilIdle()
            #expect(rig.fake.sentTexts().isEmpty)
        }
    }

    @Test("a manual send over 1000 bytes is refused over the control socket; nothing is queued or sent")
    func manualTooLong() async throws {
        try await ReplyRig.with { rig in
            let customer = "2100000000000020"
            try await rig.greeted(customer)
            let rowsBefore = try await rig.d.count("SELECT COUNT(*) FROM outbound_messages")
            let client = try ControlClient.connect(path: rig.d.dataDir + "/dmdesk.sock")
            defer { client.close() }
            let long = String(repeating: "é", count: 501)  // 1002 bytes
            do {
                _ = try client.request(ControlRequest(id: 1, type: .send, thread: customer, text: long))
                Issue.record("a 1002-byte manual send was accepted")
            } catch let error as ControlClientError {
                guard case .server(let e) = error else { throw error }
                #expect(e.code == "too_long")
                #expect(e.message.contains("1002") && e.message.contains("1000"))
            }
            #expect(try await rig.d.count("SELECT COUNT(*) FROM outbound_messages") == rowsBefore)
            // Exactly 1000 bytes is fine.
            let fits = String(repeating: "é", count: 500)
            _ = try client.request(ControlRequest(id: 2, type: .send, thread: customer, text: fits))
            #expect(try await rig.waitForTexts(customer, count: 2).last == fits)
        }
    }
}
