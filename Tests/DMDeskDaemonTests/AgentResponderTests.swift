import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

/// A reply rig whose responder is the agent, talking to a scripted chat-completions stand-in.
struct AgentRig {
    static let apiKey = "sk-test-agent-key"
    let rig: ReplyRig
    let model: FakeChatCompletions

    static func with(
        _ script: [FakeChatCompletions.Step], env extra: [String: String] = [:], dataDir: String? = nil,
        _ body: (AgentRig) async throws -> Void
    ) async throws {
        let model = FakeChatCompletions(script: script)
        let base = try await model.start()
        var env = [
            "DMDESK_RESPONDER": "agent", "DMDESK_LLM_BASE_URL": base, "DMDESK_LLM_MODEL": "test-model",
            "DMDESK_LLM_API_KEY": apiKey, "DMDESK_LLM_TIMEOUT_MS": "5000",
        ]
        env.merge(extra) { _, new in new }
        do {
            try await ReplyRig.with(env: env, dataDir: dataDir) { rig in try await body(AgentRig(rig: rig, model: model)) }
        } catch {
            await model.stop()
            throw error
        }
        await model.stop()
    }

    func steps(_ thread: String) async throws -> [AgentStepView] { try await rig.d.store.agentSteps(thread: thread) }

    /// Waits until the thread's batch is answered and the agent has let go of it.
    func waitDone(_ thread: String, _ mids: [String]) async throws {
        try await rig.waitProcessed(mids)
        try await rig.waitIdle()
    }

    /// The customer says `text`; waits until the agent has answered that batch and let go of it. Returns the mid.
    @discardableResult
    func exchange(_ customer: String, _ text: String, mid: String = "m_" + UUID().uuidString) async throws -> String {
        let mid = try await rig.say(customer, text, mid: mid)
        try await waitDone(customer, [mid])
        return mid
    }

    /// The tool results the model was given in request `index` (role "tool"), in order.
    func toolResults(inRequest index: Int) -> [String] {
        let requests = model.requests()
        guard index < requests.count else { return [] }
        return (requests[index]["messages"]?.arrayValue ?? []).compactMap { m in
            m["role"]?.stringValue == "tool" ? m["content"]?.stringValue : nil
        }
    }
}

@Suite("Agent responder: an OpenAI-compatible model answering through tools")
struct AgentResponderTests {
    typealias Call = FakeChatCompletions.Call

    @Test("a reply: the model's send_message reaches the customer; the request carries prompt, context, ids and tools")
    func reply() async throws {
        try await AgentRig.with([
            .init(.tools([Call("send_message", ["text": "Hi! We open at 9 tomorrow."])])),
            .init(.text("All done.")),
            .init(.tools([Call("send_message", ["text": "You're welcome 😊"])])),
        ]) { a in
            let customer = "agent-reply-1"
            let first = try await a.exchange(customer, "when do you open?")
            #expect(a.rig.texts(customer) == ["Hi! We open at 9 tomorrow."])

            let second = try await a.exchange(customer, "thanks!")
            #expect(a.rig.texts(customer) == ["Hi! We open at 9 tomorrow.", "You're welcome 😊"])

            let requests = a.model.requests()
            try #require(requests.count == 4, "two rounds per batch: the tool call, then the end of the turn")
            #expect(a.model.authorizations().allSatisfy { $0 == "Bearer \(AgentRig.apiKey)" })
            let tools = requests[0]["tools"]?.arrayValue?.compactMap { $0["function"]?["name"]?.stringValue } ?? []
            #expect(tools == ["send_message", "react", "get_thread_messages", "notify_manager", "handover"])
            #expect(requests[0]["model"]?.stringValue == "test-model")
            let firstMessages = requests[0]["messages"]?.arrayValue ?? []
            #expect(firstMessages.first?["role"]?.stringValue == "system")
            #expect(firstMessages.first?["content"]?.stringValue?.contains("Instagram direct messages") == true)
            #expect(firstMessages.last?["content"]?.stringValue == "[id: \(first)] when do you open?")
            // The second batch sees the first exchange from the Redis context, then the new message with its id.
            let roles = (requests[2]["messages"]?.arrayValue ?? []).map { $0["role"]?.stringValue ?? "" }
            let contents = (requests[2]["messages"]?.arrayValue ?? []).map { $0["content"]?.stringValue ?? "" }
            #expect(roles == ["system", "user", "assistant", "user"])
            #expect(contents.suffix(3) == ["when do you open?", "Hi! We open at 9 tomorrow.", "[id: \(second)] thanks!"])

            let kinds = try await a.steps(customer).map(\.kind)
            #expect(kinds == [.request, .tool, .request, .finished, .request, .tool, .request, .finished])
            let tool = try await a.steps(customer)[1]
            #expect(tool.tool == "send_message" && tool.ok && tool.result?.hasPrefix("sent") == true)
            #expect(try await a.steps(customer)[0].promptTokens == 101, "token counts kept when the endpoint gives them")
            #expect(try await a.rig.d.count("SELECT COUNT(*) FROM events WHERE type = 'agent.step'") == 8)
        }
    }

    @Test("a reaction then a reply reach Meta in that order")
    func reactionThenReply() async throws {
        let customer = "agent-react-1"
        let mid = "m_agent_react_" + UUID().uuidString
        try await AgentRig.with([
            .init(.tools([Call("react", ["message_id": .string(mid), "reaction": "love"])])),
            .init(.tools([Call("send_message", ["text": "Thank you so much!"])])),
        ]) { a in
            try await a.exchange(customer, "I love the mug I bought", mid: mid)
            let sent = a.rig.fake.instagramMessages().filter { $0["recipient"]?["id"]?.idString == customer }
            #expect(sent.count == 2)
            #expect(sent.first?["sender_action"]?.stringValue == "react")
            #expect(sent.first?["payload"]?["message_id"]?.stringValue == mid)
            #expect(sent.first?["payload"]?["reaction"]?.stringValue == "love")
            #expect(sent.last?["message"]?["text"]?.stringValue == "Thank you so much!")
        }
    }

    @Test("handover: a person gets the thread, the customer the handover text, the manager a WhatsApp; the agent stops")
    func handover() async throws {
        try await AgentRig.with([
            .init(.tools([Call("handover", ["reason": "asks for a refund of order 1234"])])),
            .init(.tools([Call("send_message", ["text": "should never be sent"])])),
        ]) { a in
            let customer = "agent-handover-1"
            try await a.exchange(customer, "I want my money back")
            #expect(a.rig.texts(customer) == ["Thanks — a person will reply shortly."])
            let manager = a.rig.fake.whatsAppMessages().compactMap { $0["text"]?["body"]?.stringValue }
            #expect(manager.count == 1 && manager[0].contains("asks for a refund of order 1234"))
            let thread = try #require(try await a.rig.d.store.thread(customer))
            #expect(thread.mode == .human && thread.awaitingOperator)
            #expect(a.model.requests().count == 1, "no request after the handover")

            // The next message waits for the person: the model is not asked again.
            let later = try await a.rig.say(customer, "hello?")
            try await a.rig.waitProcessed([later])
            #expect(a.model.requests().count == 1)
            #expect(a.rig.texts(customer).count == 1)
        }
    }

    @Test("invalid tool calls get an error result the model can read; the valid call that follows is carried out")
    func invalidThenValid() async throws {
        let tooLong = String(repeating: "é", count: 501)  // 1002 bytes
        try await AgentRig.with([
            .init(.tools([Call("send_mesage", ["text": "typo"])])),
            .init(.tools([Call("send_message", rawArguments: "{\"text\": ")])),
            .init(.tools([Call("send_message", ["text": .string(tooLong)]), Call("react", ["message_id": "nope", "reaction": "love"])])),
            .init(.tools([Call("send_message", ["text": "Sorry — here it is: we ship worldwide."])])),
        ]) { a in
            let customer = "agent-invalid-1"
            try await a.exchange(customer, "do you ship abroad?")
            #expect(a.rig.texts(customer) == ["Sorry — here it is: we ship worldwide."])
            #expect(a.toolResults(inRequest: 1).last?.hasPrefix("error: unknown tool 'send_mesage'") == true)
            #expect(a.toolResults(inRequest: 2).last == "error: the arguments of send_message are not a JSON object")
            let third = a.toolResults(inRequest: 3).suffix(2)
            #expect(third.first?.contains("1002 bytes") == true, "\(third)")
            #expect(third.last?.contains("no message nope") == true, "\(third)")
            let failed = try await a.steps(customer).filter { $0.kind == .tool && !$0.ok }
            #expect(failed.count == 4)
            #expect(a.rig.d.daemon.processor.counts.failures == 0)
        }
    }

    @Test("the endpoint timing out: the rules answer, and the step says why")
    func timeoutFallsBackToRules() async throws {
        try await AgentRig.with([.init(.stall(.seconds(3)))], env: ["DMDESK_LLM_TIMEOUT_MS": "300"]) { a in
            let customer = "agent-timeout-1"
            try await a.exchange(customer, "anyone there?")
            #expect(a.rig.texts(customer) == ["Thanks for your message! We'll get back to you soon."])
            let steps = try await a.steps(customer)
            #expect(steps.map(\.kind) == [.fallback])
            #expect(steps.first?.summary.contains("did not answer within 300 ms") == true, "\(steps)")
        }
    }

    @Test("an endpoint error (HTTP 500) also falls back to the keyword rules")
    func serverErrorFallsBackToRules() async throws {
        try await AgentRig.with([.init(.failure(status: 500, message: "model overloaded"))]) { a in
            _ = try await a.rig.d.store.addRule(RuleRecord(pattern: "price", matchKind: .contains, reply: "Prices are on our site.", priority: 1, action: .reply))
            let customer = "agent-500-1"
            try await a.exchange(customer, "what's the price?")
            #expect(a.rig.texts(customer) == ["Prices are on our site."])
            #expect(try await a.steps(customer).first?.result == "the endpoint answered HTTP 500: model overloaded")
        }
    }

    @Test("an operator taking the thread over between two tool calls stops the second")
    func takeoverStopsTheAgent() async throws {
        let customer = "agent-takeover-1"
        let holder = StoreHolder()
        try await AgentRig.with([
            .init(.tools([Call("send_message", ["text": "first"])])),
            .init(
                .tools([Call("send_message", ["text": "second"])]),
                before: {
                    _ = try? await holder.store?.updateThread(customer) { $0.mode = .human }
                }),
        ]) { a in
            holder.store = a.rig.d.store
            try await a.exchange(customer, "hi")
            #expect(a.rig.texts(customer) == ["first"])
            let steps = try await a.steps(customer)
            #expect(steps.last?.kind == .stopped)
            #expect(steps.last?.result == "an operator took the thread over")
            #expect(steps.filter { $0.kind == .tool }.count == 1)
        }
    }

    @Test("at most DMDESK_LLM_MAX_TOOL_CALLS tool calls per batch")
    func toolCallCap() async throws {
        try await AgentRig.with(
            [.init(.tools([Call("send_message", ["text": "one"]), Call("send_message", ["text": "two"]), Call("send_message", ["text": "three"])]))],
            env: ["DMDESK_LLM_MAX_TOOL_CALLS": "2"]
        ) { a in
            let customer = "agent-cap-1"
            try await a.exchange(customer, "tell me everything")
            #expect(a.rig.texts(customer) == ["one", "two"])
            #expect(try await a.steps(customer).last?.result == "tool-call limit reached (2 per batch)")
            #expect(a.model.requests().count == 1)
        }
    }

    @Test("get_thread_messages: older messages from the store, else from Meta's Conversations API")
    func history() async throws {
        try await AgentRig.with([
            // Customer one: the store has an earlier exchange.
            .init(.text("noted")),
            .init(.tools([Call("get_thread_messages", ["limit": 10])])),
            .init(.text("nothing new")),
            // Customer two: new to the store, so Meta is asked.
            .init(.tools([Call("get_thread_messages", ["limit": 10])])),
        ]) { a in
            let one = "agent-history-1"
            try await a.exchange(one, "my order is 4711")
            try await a.exchange(one, "any news?")
            let fromStore = a.toolResults(inRequest: 2).first ?? ""
            #expect(fromStore.contains("my order is 4711") && fromStore.contains("\"from\":\"customer\""), "\(fromStore)")
            #expect(!fromStore.contains("any news?"), "only messages older than the batch")

            let two = "agent-history-2"
            a.rig.fake.setConversation(two, messages: [("is this still available?", true), ("Yes, it is!", false)])
            try await a.exchange(two, "ok I'll take it")
            let fromMeta = a.toolResults(inRequest: 4).first ?? ""
            #expect(fromMeta.contains("is this still available?") && fromMeta.contains("\"from\":\"business\""), "\(fromMeta)")
            #expect(a.rig.fake.requests().contains { $0.path.hasSuffix("/me/conversations") && $0.query.contains("user_id=\(two)") })
        }
    }

    @Test("a run cut short by a restart after it acted is not answered again; what came later is")
    func restartAfterActing() async throws {
        let dir = try makeTempDirectory(prefix: "dmdesk-agent-restart")
        let customer = "agent-restart-1"
        var first = ""
        var second = ""
        // The model answers, then hangs; the daemon stops with the batch still in flight.
        try await AgentRig.with(
            [.init(.tools([Call("send_message", ["text": "Hello once"])])), .init(.stall(.seconds(20)))],
            env: ["DMDESK_LLM_TIMEOUT_MS": "60000"], dataDir: dir
        ) { a in
            first = try await a.rig.say(customer, "hi, anyone?")
            try await a.rig.waitForTexts(customer, count: 1)
            #expect(await eventually { a.model.requests().count == 2 }, "the second request is hanging")
            second = try await a.rig.say(customer, "and do you ship to Lisbon?")
            #expect(try await a.rig.status(first) == .processing)
        }
        try await AgentRig.with([.init(.tools([Call("send_message", ["text": "Yes, Lisbon in 2 days."])]))], dataDir: dir) { a in
            try await a.waitDone(customer, [first, second])
            #expect(a.rig.texts(customer) == ["Yes, Lisbon in 2 days."], "no second \"Hello once\"")
            let asked = a.model.requests().first?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(asked == "[id: \(second)] and do you ship to Lisbon?", "only the later message is new: \(asked)")
            #expect(try await a.steps(customer).contains { $0.kind == .stopped && $0.result?.contains("already answered") == true })
        }
    }

    @Test("DMDESK_RESPONDER=agent without an endpoint or model stops start-up with one line")
    func configuration() throws {
        #expect(throws: ConfigError.self) {
            try DaemonHarness.config(dataDir: "/tmp", redisURL: "redis://127.0.0.1:1", env: ["DMDESK_RESPONDER": "agent"])
        }
        do {
            _ = try DaemonHarness.config(
                dataDir: "/tmp", redisURL: "redis://127.0.0.1:1", env: ["DMDESK_RESPONDER": "agent", "DMDESK_LLM_MODEL": "m"])
        } catch {
            #expect("\(error)" == "DMDESK_RESPONDER=agent needs DMDESK_LLM_BASE_URL (an OpenAI-compatible endpoint and model)")
        }
    }
}

/// Lets a scripted step reach the store of a rig created after the script.
final class StoreHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var _store: (any InboxStore)?
    var store: (any InboxStore)? {
        get { lock.withLock { _store } }
        set { lock.withLock { _store = newValue } }
    }
}
