import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("Replies: processor and responder (real HTTP, Redis, SQLite, Graph stand-in)")
struct RepliesProcessorTests {
    static let fallback = "Thanks for your message! We'll get back to you soon."

    @Test("a message gets the fallback reply once; the reply is in Redis as {\"r\":\"a\"}; the message is processed")
    func fallbackReply() async throws {
        try await ReplyRig.with { rig in
            let customer = "2000000000000001"
            let mid = try await rig.say(customer, "Hello there")
            #expect(try await rig.waitForTexts(customer, count: 1) == [Self.fallback])
            try await rig.waitProcessed([mid])
            try await rig.waitIdle()
            let rows = try await rig.outbox(customer)
            #expect(rows.count == 1 && rows[0].kind == .autoReply && rows[0].status == .sent && rows[0].author == .bot)
            #expect(rows[0].remote_message_id?.hasPrefix("m_fake_") == true)
            let context = try rig.redis.list("chat:\(customer)")
            #expect(context == [#"{"r":"u","t":"Hello there"}"#, #"{"r":"a","t":"Thanks for your message! We'll get back to you soon."}"#])
            // The bot's line is in the conversation, delivered.
            let history = try await rig.d.store.history(thread: customer)
            #expect(history.last?.author == .bot && history.last?.delivery == .sent)
            try await rig.d.waitUntilIdle()
            #expect(rig.texts(customer).count == 1, "the daemon went idle having sent exactly one reply")
        }
    }

    @Test("two messages inside the debounce window get one reply")
    func debounce() async throws {
        try await ReplyRig.with(env: ["DMDESK_REPLY_DELAY_MS": "2500-2600"]) { rig in
            let customer = "2000000000000002"
            let a = try await rig.say(customer, "hi")
            let b = try await rig.say(customer, "are you there?")
            try await rig.waitProcessed([a, b], timeout: 15)
            try await rig.waitIdle()
            #expect(rig.texts(customer) == [Self.fallback])
            // And nothing more arrives later: no second batch is due (not even beyond the window), none runs.
            let idle = try await rig.d.waitUntilIdle()
            #expect(idle.scheduled == 0)
            #expect(rig.texts(customer).count == 1, "the daemon went idle having sent one reply")
            #expect(try await rig.outbox(customer).count == 1)
        }
    }

    @Test("keyword rules: contains, whole word and regex in priority order; first match wins; fallback otherwise")
    func keywordRules() async throws {
        try await ReplyRig.with { rig in
            try await rig.d.store.addRule(RuleRecord(pattern: "Shipping", matchKind: .contains, reply: "ship-reply", priority: 50, action: .reply))
            try await rig.d.store.addRule(RuleRecord(pattern: "hi", matchKind: .word, reply: "hi-reply", priority: 60, action: .reply))
            try await rig.d.store.addRule(RuleRecord(pattern: "order\\s*#?\\d+", matchKind: .regex, reply: "order-reply", priority: 40, action: .reply))
            let cases: [(String, String)] = [
                ("How much is SHIPPING to Oslo?", "ship-reply"),
                ("Hi!", "hi-reply"),
                ("this has no greeting", Self.fallback),  // "hi" inside "this" is not the word
                ("where is order #123? shipping?", "order-reply"),  // both match; lower priority number wins
            ]
            for (i, (text, expected)) in cases.enumerated() {
                let customer = "20000000000001\(i)0"
                try await rig.say(customer, text)
                #expect(try await rig.waitForTexts(customer, count: 1) == [expected], "\(text)")
            }
        }
    }

    @Test("50 customers at once, each sending 3 messages in turn: each is answered in order, exactly once")
    func fiftyThreads() async throws {
        try await ReplyRig.with { rig in
            for k in 1...3 {
                try await rig.d.store.addRule(RuleRecord(pattern: "step\(k)", matchKind: .word, reply: "answer \(k)", priority: k, action: .reply))
            }
            let customers = (0..<50).map { "30000000000\(String(format: "%05d", $0))" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for customer in customers {
                    group.addTask {
                        for k in 1...3 {
                            try await rig.say(customer, "this is step\(k)")
                            let ok = await eventually(timeout: 30) { rig.texts(customer).count >= k }
                            #expect(ok, "\(customer) waits for answer \(k)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Settled and idle: every reply that was coming has come.
            try await rig.waitIdle()
            for customer in customers {
                #expect(rig.texts(customer) == ["answer 1", "answer 2", "answer 3"], "\(customer)")
            }
            #expect(rig.fake.sentTexts().count == 150)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND status <> 'processed'") == 0)
        }
    }

    @Test("human mode: nothing is sent automatically; messages are processed and the thread awaits an operator")
    func humanMode() async throws {
        try await ReplyRig.with { rig in
            let customer = "2000000000000003"
            let first = try await rig.say(customer, "hello")
            try await rig.waitForTexts(customer, count: 1)
            let (summary, _) = try await rig.d.store.updateThread(customer) {
                $0.mode = .human
                $0.awaiting_operator = false
            }
            #expect(summary.mode == .human)
            let second = try await rig.say(customer, "I want to talk about my refund")
            let third = try await rig.say(customer, "hello??")
            try await rig.waitProcessed([first, second, third])
            try await rig.waitIdle()
            #expect(rig.texts(customer).count == 1, "idle, with only the answer from before the takeover")
            #expect(try await rig.d.store.thread(customer)?.awaitingOperator == true)
        }
    }

    @Test("a handover rule: human mode, the manager hears on WhatsApp, the customer gets the handover text")
    func handoverRule() async throws {
        try await ReplyRig.with { rig in
            try await rig.d.store.addRule(RuleRecord(pattern: "talk to a human", matchKind: .contains, reply: nil, priority: 10, action: .handover))
            let customer = "2000000000000004"
            try await rig.say(customer, "Can I talk to a human please?")
            #expect(try await rig.waitForTexts(customer, count: 1) == ["Thanks — a person will reply shortly."])
            let ok = await eventually { rig.fake.whatsAppMessages().count == 1 }
            #expect(ok)
            let wa = try #require(rig.fake.whatsAppMessages().first)
            #expect(wa["to"]?.idString == ReplyRig.manager && wa["type"]?.stringValue == "text")
            #expect(wa["text"]?["body"]?.stringValue?.contains("talk to a human") == true)
            let thread = try #require(try await rig.d.store.thread(customer))
            #expect(thread.mode == .human && thread.awaitingOperator)
            // Afterwards the bot stays quiet.
            let next = try await rig.say(customer, "hello?")
            try await rig.waitProcessed([next])
            try await rig.waitIdle()
            #expect(rig.texts(customer).count == 1)
            let kinds = try await rig.d.store.outbound(thread: customer).map(\.kind)
            #expect(kinds == [.autoReply, .managerNotification])
        }
    }

    @Test("the postback HUMAN_AGENT hands over too")
    func handoverPostback() async throws {
        try await ReplyRig.with { rig in
            let customer = "2000000000000005"
            try await rig.postback(customer, payload: "HUMAN_AGENT", title: "Talk to a human")
            #expect(try await rig.waitForTexts(customer, count: 1) == ["Thanks — a person will reply shortly."])
            #expect(await eventually { rig.fake.whatsAppMessages().count == 1 })
            #expect(try await rig.d.store.thread(customer)?.mode == .human)
        }
    }

    @Test("an auto-reply over 1000 bytes is split at word boundaries")
    func longAutoReply() async throws {
        let long = (1...300).map { "word\($0)" }.joined(separator: " ")  // ~2,000 bytes
        try await ReplyRig.with(env: ["DMDESK_FALLBACK_REPLY": long]) { rig in
            let customer = "2000000000000006"
            try await rig.say(customer, "hi")
            let texts = try await rig.waitForTexts(customer, count: 2)
            try await rig.waitIdle()
            let all = rig.texts(customer)
            #expect(all.count >= 2 && all.allSatisfy { $0.utf8.count <= 1000 })
            #expect(all.joined(separator: " ") == long)
            _ = texts
        }
    }

    @Test("a batch that keeps failing is retried with backoff, then marked failed with the reason and journaled")
    func failingBatch() async throws {
        try await ReplyRig.with { rig in
            struct Boom: Error, CustomStringConvertible { var description: String { "responder exploded" } }
            rig.d.daemon.processor.setFaultHook { _ in throw Boom() }
            let customer = "2000000000000007"
            let mid = try await rig.say(customer, "hello")
            let failed = await eventually(timeout: 15) { (try? await rig.status(mid)) == .failed }
            #expect(failed)
            let record = try #require(try await rig.d.store.message(mid: mid))
            #expect(record.attempts == 5)
            #expect(record.error?.contains("responder exploded") == true)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM events WHERE type = 'message.updated' AND thread_id = '\(customer)'") >= 1)
            #expect(rig.texts(customer).isEmpty)

            // A transient failure: the retry answers it.
            let flaky = Locked(1)
            rig.d.daemon.processor.setFaultHook { _ in
                if flaky.take() { throw Boom() }
            }
            let second = try await rig.say(customer, "again")
            try await rig.waitProcessed([second])
            #expect(try await rig.d.store.message(mid: second)?.attempts == 1)
            #expect(try await rig.waitForTexts(customer, count: 1) == [Self.fallback])
        }
    }
}

/// A countdown shared with @Sendable closures.
final class Locked: @unchecked Sendable {
    private let lock = NSLock()
    private var remaining: Int
    init(_ n: Int) { remaining = n }
    /// True (and counts down) while some remain.
    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard remaining > 0 else { return false }
        remaining -= 1
        return true
    }
}
