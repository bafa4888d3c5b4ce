import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

/// Meta's echoes of what we send, against a running daemon: an echo is proof a row was sent, whatever order it
/// comes in, and never an answer typed in the Instagram app.
@Suite("Replies: echoes of our own sends")
struct SendOnceTests {
    static let fallback = "Thanks for your message! We'll get back to you soon."

    /// A rig whose stand-in delivers Meta's echo of every send, before or after its answer to the Send API call.
    func withEchoes(beforeAnswer: Bool, _ body: (ReplyRig) async throws -> Void) async throws {
        try await ReplyRig.with { rig in
            rig.fake.deliverEchoes(FakeGraphAPI.EchoDelivery(
                webhookURL: rig.d.base + "/webhooks/instagram", appSecret: WebhookFixture.appSecret, beforeAnswer: beforeAnswer))
            try await body(rig)
        }
    }

    func sendCalls(_ rig: ReplyRig, to customer: String) -> Int {
        rig.fake.requests().filter { $0.method == "POST" && $0.path.hasSuffix("/me/messages") && $0.body?["recipient"]?["id"]?.idString == customer }.count
    }

    func lines(_ rig: ReplyRig, _ customer: String) async throws -> [MessageView] {
        try await rig.d.store.history(thread: customer).filter { $0.direction == .outbound }
    }

    @Test("the echo is stored before the Send API's answer: no takeover, no second line, the row is sent with its id")
    func echoBeforeResult() async throws {
        try await withEchoes(beforeAnswer: true) { rig in
            let customer = "2200000000000001"
            #expect(try await rig.greeted(customer) == [Self.fallback])
            #expect(rig.fake.echoesDelivered == 1)
            let row = try #require(try await rig.outbox(customer).first)
            #expect(row.status == .sent && row.remote_message_id?.hasPrefix("m_fake_") == true)
            let out = try await lines(rig, customer)
            #expect(out.count == 1 && out[0].author == .bot && out[0].delivery == .sent && out[0].mid == row.remote_message_id, "\(out)")
            #expect(try await rig.d.store.thread(customer)?.mode == .auto, "our own echo is not an answer from the app")

            // An operator's manual send (marked in flight by the outbox, not by the processor): the same.
            let client = try ControlClient.connect(path: rig.d.dataDir + "/dmdesk.sock")
            defer { client.close() }
            _ = try client.request(ControlRequest(id: 1, type: .send, thread: customer, text: "On its way!"))
            #expect(try await rig.waitForTexts(customer, count: 2).last == "On its way!")
            try await rig.waitIdle()
            #expect(await eventually { rig.fake.echoesDelivered == 2 })
            #expect(try await lines(rig, customer).filter { $0.text == "On its way!" }.count == 1)
            #expect(try await rig.outbox(customer).allSatisfy { $0.status == .sent })
        }
    }

    @Test("the echo after the answer (as usual): known by its id, nothing new")
    func echoAfterResult() async throws {
        try await withEchoes(beforeAnswer: false) { rig in
            let customer = "2200000000000002"
            try await rig.greeted(customer)
            #expect(await eventually { rig.fake.echoesDelivered == 1 })
            #expect(try await lines(rig, customer).count == 1)
            #expect(try await rig.d.store.thread(customer)?.mode == .auto)
        }
    }

    @Test("Meta took the message but its answer was lost (a 500): the echo proves it, so no retry sends it again")
    func lostAnswerNotRetried() async throws {
        try await withEchoes(beforeAnswer: true) { rig in
            rig.fake.loseAnswersAfterAccepting(1)
            let customer = "2200000000000003"
            try await rig.greeted(customer)
            let row = try #require(try await rig.outbox(customer).first)
            #expect(row.status == .sent && row.remote_message_id != nil, "the failed answer does not undo the proof: \(row)")
            #expect(sendCalls(rig, to: customer) == 1, "not retried")
            #expect(rig.texts(customer) == [Self.fallback])
            #expect(try await lines(rig, customer).map(\.delivery) == [.sent])
        }
    }

    @Test("an echo we cannot match is still an answer typed in the Instagram app: the thread is taken over")
    func foreignEchoTakesOver() async throws {
        try await ReplyRig.with { rig in
            let customer = "2200000000000004"
            try await rig.greeted(customer)
            let body = WebhookBuilder.envelope(items: [[
                "sender": ["id": .string(WebhookBuilder.accountId)], "recipient": ["id": .string(customer)],
                "timestamp": .number(Double(nowMillis())),
                "message": ["mid": "mid.typed.in.app", "text": "typed by a person", "is_echo": true],
            ]])
            #expect(try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            #expect(try await rig.d.store.thread(customer)?.mode == .human)
            #expect(try await lines(rig, customer).contains { $0.author == .operator && $0.text == "typed by a person" })
        }
    }
}

// The store-level cases (no downgrade of a sent row, echo matching, an echo after a failure) are in
// DMDeskStoreTests/OutboxTests.swift, run against every engine.
