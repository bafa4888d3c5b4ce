import DMDeskAgent
import DMDeskCore
import DMDeskTesting
import Foundation
import Testing

@Suite("Agent: tool arguments, model answers, the request")
struct AgentToolsTests {
    func parse(_ name: String, _ arguments: String) -> Result<AgentAction, ToolArgumentError> {
        AgentTools.parse(ToolCall(id: "c", name: name, arguments: arguments))
    }

    @Test("valid calls become actions; text is trimmed; limit is clamped")
    func validCalls() throws {
        #expect(try parse("send_message", #"{"text": "  hi there \n"}"#).get() == .sendMessage(text: "hi there"))
        #expect(try parse("react", #"{"message_id": "m_1", "reaction": "love"}"#).get() == .react(messageId: "m_1", reaction: "love"))
        #expect(try parse("get_thread_messages", #"{"limit": 500}"#).get() == .getThreadMessages(limit: 50))
        #expect(try parse("get_thread_messages", #"{"limit": "5"}"#).get() == .getThreadMessages(limit: 5))
        #expect(try parse("get_thread_messages", "").get() == .getThreadMessages(limit: 20))
        #expect(try parse("notify_manager", #"{"text": "VIP waiting"}"#).get() == .notifyManager(text: "VIP waiting"))
        #expect(try parse("handover", #"{"reason": ""}"#).get() == .handover(reason: "no reason given"))
        let exactly = String(repeating: "a", count: maxMessageBytes)
        #expect(try parse("send_message", JSONValue.object(["text": .string(exactly)]).compactString).get() == .sendMessage(text: exactly))
    }

    @Test("unknown tools, bad JSON, wrong types and over-long text are refused with a message for the model")
    func invalidCalls() {
        func problem(_ name: String, _ arguments: String) -> String? {
            if case .failure(let error) = parse(name, arguments) { return error.message }
            return nil
        }
        #expect(problem("delete_account", "{}")?.hasPrefix("unknown tool 'delete_account'") == true)
        #expect(problem("send_message", "{\"text\": ") == "the arguments of send_message are not a JSON object")
        #expect(problem("send_message", "[\"hi\"]") == "the arguments of send_message are not a JSON object")
        #expect(problem("send_message", "{}") == "send_message needs `text` (a string)")
        #expect(problem("send_message", #"{"text": 42}"#) == "`text` must be a string")
        #expect(problem("send_message", #"{"text": "   "}"#) == "`text` is empty")
        #expect(problem("send_message", JSONValue.object(["text": .string(String(repeating: "ü", count: 501))]).compactString)
            == "`text` is 1002 bytes; the limit is 1000. Send shorter messages.")
        #expect(problem("get_thread_messages", #"{"limit": 2.5}"#)?.contains("integer") == true)
        #expect(problem("react", #"{"message_id": "m"}"#) == "react needs `reaction` (a string)")
    }

    @Test("answers: tool calls with string or object arguments, text, usage, errors")
    func replies() throws {
        let answer = try JSONValue.parse(Data(#"""
            {"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
              {"id":"a","type":"function","function":{"name":"send_message","arguments":"{\"text\":\"hi\"}"}},
              {"type":"function","function":{"name":"react","arguments":{"message_id":"m","reaction":"love"}}}]}}],
             "usage":{"prompt_tokens":12,"completion_tokens":3}}
            """#.utf8))
        let reply = try ChatReply.parse(answer)
        #expect(reply.toolCalls == [
            ToolCall(id: "a", name: "send_message", arguments: #"{"text":"hi"}"#),
            ToolCall(id: "call_1", name: "react", arguments: #"{"message_id":"m","reaction":"love"}"#),
        ])
        #expect(reply.promptTokens == 12 && reply.completionTokens == 3 && reply.content == nil)
        #expect(throws: ChatError.self) { try ChatReply.parse(["choices": []]) }
        #expect(throws: ChatError.self) { try ChatReply.parse(["error": ["message": "bad key"]]) }
    }

    @Test("the request: the system prompt, the context without the batch's own turns, then the batch with ids")
    func request() {
        let input = AgentInput(
            systemPrompt: "Be kind.", customerName: "@ana",
            context: [
                .init(fromCustomer: true, text: "hello"), .init(fromCustomer: false, text: "Hi Ana!"),
                .init(fromCustomer: true, text: "price?"), .init(fromCustomer: true, text: "of the mug"),
            ],
            newMessages: [.init(id: "m1", text: "price?"), .init(id: "m2", text: "of the mug")])
        let messages = input.chatMessages
        #expect(messages.map(\.role) == [.system, .user, .assistant, .user])
        #expect(messages[0].content == "Be kind.\n\nYou are talking with @ana.")
        #expect(messages.last?.content == "[id: m1] price?\n[id: m2] of the mug")
    }

    @Test("the client: bearer key, tools in the body, HTTP errors and timeouts as typed errors", .timeLimit(.minutes(1)))
    func client() async throws {
        let model = FakeChatCompletions(answers: [
            .tools([.init("send_message", ["text": "hi"])]), .failure(status: 401, message: "Incorrect API key provided"),
            .stall(.seconds(2)),
        ])
        let base = try await model.start()
        defer { Task { await model.stop() } }
        let client = ChatClient(endpoint: ChatEndpoint(baseURL: base + "/", model: "m", apiKey: "sk-1", timeoutMs: 250))
        let reply = try await client.complete([.user("hi")], tools: AgentTools.definitions)
        #expect(reply.toolCalls.map(\.name) == ["send_message"])
        #expect(model.authorizations() == ["Bearer sk-1"])
        #expect(model.requests()[0]["tools"]?.arrayValue?.count == 5)
        #expect(model.requests()[0]["tool_choice"]?.stringValue == "auto")
        await #expect(throws: ChatError.http(status: 401, message: "Incorrect API key provided")) {
            try await client.complete([.user("hi")], tools: [])
        }
        let started = ContinuousClock.now
        await #expect(throws: ChatError.timeout(milliseconds: 250)) { try await client.complete([.user("hi")], tools: []) }
        #expect(started.duration(to: .now) < .seconds(2), "the timeout does not wait for the answer")
        let unreachable = ChatClient(endpoint: ChatEndpoint(baseURL: "http://127.0.0.1:1/v1", model: "m", apiKey: nil, timeoutMs: 2000))
        await #expect(throws: ChatError.self) { try await unreachable.complete([.user("hi")], tools: []) }
    }
}
