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

    func echoes(_ rig: ReplyRig, beforeAnswer: Bool) {
        rig.fake.deliverEchoes(FakeGraphAPI.EchoDelivery(
            webhookURL: rig.d.base + "/webhooks/instagram", appSecret: WebhookFixture.appSecret, beforeAnswer: beforeAnswer))
    }

    func sendCalls(_ rig: ReplyRig, to customer: String) -> Int {
        rig.fake.requests().filter { $0.method == "POST" && $0.path.hasSuffix("/me/messages") && $0.body?["recipient"]?["id"]?.idString == customer }.count
    }

    func lines(_ rig: ReplyRig, _ customer: String) async throws -> [MessageView] {
        try await rig.d.store.history(thread: customer).filter { $0.direction == .outbound }
    }

    @Test("the echo is stored before the Send API's answer: no takeover, no second line, the row is sent with its id")
    func echoBeforeResult() async throws {
        try await ReplyRig.with { rig in
            echoes(rig, beforeAnswer: true)
            let customer = "2200000000000001"
            try await rig.say(customer, "hello")
            #expect(try await rig.waitForTexts(customer, count: 1) == [Self.fallback])
            try await rig.waitIdle()
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
        try await ReplyRig.with { rig in
            echoes(rig, beforeAnswer: false)
            let customer = "2200000000000002"
            try await rig.say(customer, "hello")
            try await rig.waitForTexts(customer, count: 1)
            #expect(await eventually { rig.fake.echoesDelivered == 1 })
            try await rig.waitIdle()
            #expect(try await lines(rig, customer).count == 1)
            #expect(try await rig.d.store.thread(customer)?.mode == .auto)
        }
    }

    @Test("Meta took the message but its answer was lost (a 500): the echo proves it, so no retry sends it again")
    func lostAnswerNotRetried() async throws {
        try await ReplyRig.with { rig in
            echoes(rig, beforeAnswer: true)
            rig.fake.loseAnswersAfterAccepting(1)
            let customer = "2200000000000003"
            try await rig.say(customer, "hello")
            try await rig.waitForTexts(customer, count: 1)
            try await rig.waitIdle()
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
            try await rig.say(customer, "hello")
            try await rig.waitForTexts(customer, count: 1)
            try await rig.waitIdle()
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

@Suite("Outbox rows in flight (store)")
struct OutboxInFlightStoreTests {
    func echo(to customer: String, text: String, mid: String, at: EpochMillis = nowMillis()) throws -> WebhookEvent {
        let body = WebhookBuilder.envelope(items: [[
            "sender": ["id": .string(WebhookBuilder.accountId)], "recipient": ["id": .string(customer)],
            "timestamp": .number(Double(at)), "message": ["mid": .string(mid), "text": .string(text), "is_echo": true],
        ]])
        return try WebhookParser.parse(body).events[0]
    }

    @Test("a row proven sent by its echo is not downgraded by a late failure, and a later echo changes nothing")
    func noDowngrade() async throws {
        let store = try SQLiteStore(dataDir: try makeTempDirectory(prefix: "dmdesk-inflight"))
        let customer = "2300000000000001"
        let draft = OutboundDraft(thread: customer, recipient: customer, kind: .manual, text: "See you soon", author: .operator)
        let id = try #require(try await store.enqueue(draft).record.id)
        guard case .success(.marked(let marked)) = await store.markSending([id])[0] else { Issue.record("not marked"); return }
        #expect(marked.status == .sending && marked.sending_at != nil)
        guard case .success(.notPending) = await store.markSending([id])[0] else { Issue.record("marked twice"); return }

        let outcome = try await store.ingest([try echo(to: customer, text: "See you soon", mid: "mid.echo.1")])
        #expect(outcome.storedMessages == 0)
        var row = try #require(try await store.outbound(id: id))
        #expect(row.status == .sent && row.remote_message_id == "mid.echo.1")

        let late = try await store.finishOutbound(id: id, status: .failed, attempts: 3, error: "timed out")
        #expect(late.events.isEmpty)
        row = try #require(try await store.outbound(id: id))
        #expect(row.status == .sent && row.error == nil && row.remote_message_id == "mid.echo.1")
        let line = try #require(try await store.history(thread: customer).last)
        #expect(line.delivery == .sent && line.mid == "mid.echo.1")
        #expect(try await store.thread(customer)?.mode == .auto)
        #expect(try await store.history(thread: customer).count == 1, "no operator line for our own echo")
    }

    @Test("echo matching: same recipient and text, oldest first, not before the row went in flight")
    func matching() async throws {
        let store = try SQLiteStore(dataDir: try makeTempDirectory(prefix: "dmdesk-inflight"))
        let customer = "2300000000000002"
        func queue(_ text: String) async throws -> Int64 {
            let id = try #require(try await store.enqueue(OutboundDraft(thread: customer, recipient: customer, kind: .autoReply, text: text, author: .bot)).record.id)
            _ = await store.markSending([id])
            return id
        }
        let a = try await queue("same words")
        let b = try await queue("same words")
        // Long before either went in flight: typed in the app, not ours.
        _ = try await store.ingest([try echo(to: customer, text: "same words", mid: "mid.old", at: nowMillis() - 3_600_000)])
        #expect(try await store.outbound(id: a)?.status == .sending)
        _ = try await store.ingest([try echo(to: "someone-else", text: "same words", mid: "mid.other")])
        #expect(try await store.outbound(id: a)?.status == .sending)
        _ = try await store.ingest([try echo(to: customer, text: "other words", mid: "mid.words")])
        #expect(try await store.outbound(id: a)?.status == .sending)
        _ = try await store.ingest([try echo(to: customer, text: "same words", mid: "mid.first")])
        #expect(try await store.outbound(id: a)?.remote_message_id == "mid.first")
        #expect(try await store.outbound(id: b)?.status == .sending)
        _ = try await store.ingest([try echo(to: customer, text: "same words", mid: "mid.second")])
        #expect(try await store.outbound(id: b)?.remote_message_id == "mid.second")
    }

    @Test("an echo after the row was recorded failed (its last attempt timed out after Meta took it): sent after all")
    func echoAfterFailure() async throws {
        let store = try SQLiteStore(dataDir: try makeTempDirectory(prefix: "dmdesk-inflight"))
        let customer = "2300000000000003"
        let id = try #require(try await store.enqueue(OutboundDraft(thread: customer, recipient: customer, kind: .manual, text: "Timed out", author: .operator)).record.id)
        _ = await store.markSending([id])
        _ = try await store.finishOutbound(id: id, status: .failed, attempts: 3, error: "network: timed out")
        _ = try await store.ingest([try echo(to: customer, text: "Timed out", mid: "mid.late")])
        let row = try #require(try await store.outbound(id: id))
        #expect(row.status == .sent && row.remote_message_id == "mid.late" && row.error == nil)
        #expect(try await store.history(thread: customer).map(\.delivery) == [.sent])
        #expect(try await store.thread(customer)?.mode == .auto)
        // The same words long after the failure are an answer typed in the app, not this row.
        let old = try #require(try await store.enqueue(OutboundDraft(thread: customer, recipient: customer, kind: .manual, text: "Typed later", author: .operator)).record.id)
        _ = await store.markSending([old])
        _ = try await store.finishOutbound(id: old, status: .failed, attempts: 3, error: "network: timed out")
        _ = try await store.ingest([try echo(to: customer, text: "Typed later", mid: "mid.app", at: nowMillis() + 3_600_000)])
        #expect(try await store.outbound(id: old)?.status == .failed)
    }
}
