import DMDeskCore
import DMDeskDaemon
import DMDeskDemo
import DMDeskStore
import Foundation
import Testing

/// Typing indicators (once per batch, best effort) and the routing of tapped buttons (ice breakers, menu entries,
/// quick replies), through real HTTP against the Graph API stand-in.
@Suite("Typing indicators and tapped buttons", .serialized)
struct IndicatorsAndButtonsTests {
    static let fallback = "Thanks for your message! We'll get back to you soon."

    @Test("three messages in one batch: the customer sees one typing_on, then the one reply")
    func typingOncePerBatch() async throws {
        try await ReplyRig.with(env: ["DMDESK_TYPING": "true", "DMDESK_REPLY_DELAY_MS": "1500"]) { rig in
            let customer = "3100000000000001"
            let mids = [
                try await rig.say(customer, "hi"), try await rig.say(customer, "are you there?"),
                try await rig.say(customer, "hello??"),
            ]
            try await rig.waitForTexts(customer, count: 1)
            try await rig.waitProcessed(mids)
            try await rig.waitIdle()
            #expect(rig.fake.timeline(of: customer) == ["typing_on", "text: " + Self.fallback])
            #expect(rig.d.runtime.outbox.senderActions.counts == .init(sent: 1, failed: 0))
            // A second batch gets its own indicator.
            try await rig.say(customer, "one more thing")
            try await rig.waitForTexts(customer, count: 2)
            try await rig.waitIdle()
            #expect(rig.fake.timeline(of: customer) == ["typing_on", "text: " + Self.fallback, "typing_on", "text: " + Self.fallback])
        }
    }

    @Test("a typing_on Meta refuses is not retried and does not stop the reply")
    func failingIndicator() async throws {
        try await ReplyRig.with(env: ["DMDESK_TYPING": "true"]) { rig in
            let customer = "3100000000000002"
            rig.fake.failNextSenderActions(1, status: 500, code: 2)
            try await rig.say(customer, "hello")
            #expect(try await rig.waitForTexts(customer, count: 1) == [Self.fallback])
            try await rig.waitIdle()
            let attempts = rig.fake.requests().filter { $0.body?["sender_action"]?.stringValue == "typing_on" }
            #expect(attempts.count == 1, "tried once, not retried")
            #expect(rig.fake.timeline(of: customer) == ["text: " + Self.fallback], "the customer got the reply all the same")
            #expect(await eventually { rig.d.runtime.outbox.senderActions.counts == .init(sent: 0, failed: 1) })
        }
    }

    @Test("a human-mode thread gets no typing indicator (nobody is composing for the bot)")
    func noTypingInHumanMode() async throws {
        try await ReplyRig.with(env: ["DMDESK_TYPING": "true"]) { rig in
            let customer = "3100000000000003"
            try await rig.greeted(customer)
            _ = try await rig.d.store.updateThread(customer) { $0.mode = .human }
            let mid = try await rig.say(customer, "are you a person?")
            try await rig.waitProcessed([mid])
            try await rig.waitIdle()
            #expect(rig.fake.timeline(of: customer) == ["typing_on", "text: " + Self.fallback], "only the first batch's")
        }
    }

    @Test("an ice breaker naming a rule gets that rule's reply, whatever the rule's keyword")
    func postbackNamesRule() async throws {
        try await ReplyRig.with { rig in
            let hours = try await rig.d.store.addRule(
                RuleRecord(pattern: "opening hours", matchKind: .contains, reply: "We open at 9.", priority: 100, action: .reply))
            // A rule that would match the title's text: the named rule wins.
            try await rig.d.store.addRule(
                RuleRecord(pattern: "open", matchKind: .contains, reply: "Wrong rule.", priority: 1, action: .reply))
            let customer = "3100000000000004"
            try await rig.postback(customer, payload: ButtonPayload.rule(hours.id!).payload, title: "When are you open?")
            #expect(try await rig.waitForTexts(customer, count: 1) == ["We open at 9."])
            #expect(try await rig.d.store.thread(customer)?.mode == .auto)
        }
    }

    @Test("a quick reply naming a rule gets that rule's reply")
    func quickReplyNamesRule() async throws {
        try await ReplyRig.with { rig in
            let rule = try await rig.d.store.addRule(
                RuleRecord(pattern: "zzz-never-typed", matchKind: .contains, reply: "Here is your tracking link.", priority: 100, action: .reply))
            let customer = "3100000000000005"
            let body = WebhookBuilder.envelope(items: [[
                "sender": ["id": .string(customer)], "recipient": ["id": .string(WebhookBuilder.accountId)],
                "timestamp": .number(Double(nowMillis())),
                "message": [
                    "mid": "qr_1", "text": "Track my order",
                    "quick_reply": ["payload": .string(ButtonPayload.rule(rule.id!).payload)],
                ],
            ]])
            #expect(try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            #expect(try await rig.waitForTexts(customer, count: 1) == ["Here is your tracking link."])
        }
    }

    @Test("a menu button mapped to take over flags the thread for a person, as a handover does")
    func postbackTakesOver() async throws {
        try await ReplyRig.with { rig in
            let customer = "3100000000000006"
            try await rig.postback(customer, payload: ButtonPayload.takeover.payload, title: "Talk to a person")
            #expect(try await rig.waitForTexts(customer, count: 1) == ["Thanks — a person will reply shortly."])
            let thread = try #require(try await rig.d.store.thread(customer))
            #expect(thread.mode == .human && thread.awaitingOperator)
            #expect(await eventually { rig.fake.whatsAppMessages().count == 1 }, "the manager is told")
        }
    }

    @Test("a button naming a rule that was removed falls back like any message")
    func removedRule() async throws {
        try await ReplyRig.with { rig in
            let customer = "3100000000000007"
            try await rig.postback(customer, payload: ButtonPayload.rule(4242).payload, title: "Old button")
            #expect(try await rig.waitForTexts(customer, count: 1) == [Self.fallback])
        }
    }
}
