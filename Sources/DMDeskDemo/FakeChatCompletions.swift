import DMDeskCore
import Foundation
import Hummingbird
import Logging
import Synchronization

/// A local OpenAI-compatible chat-completions endpoint (`POST /v1/chat/completions`) that answers from a script:
/// each request takes the next scripted answer — tool calls, plain text, an HTTP error or a stall. When the script
/// runs out it answers plain text, which ends the agent's turn. Every request body is recorded.
///
/// ```swift
/// let model = FakeChatCompletions(script: [.tools([.init("send_message", ["text": "Hi!"])])])
/// let base = try await model.start()        // "http://127.0.0.1:PORT/v1"
/// ```
public final class FakeChatCompletions: Sendable {
    public struct Call: Sendable {
        public var name: String
        /// The arguments as the model would send them: usually a JSON object's text, possibly anything.
        public var arguments: String

        public init(_ name: String, _ arguments: JSONValue) {
            self.name = name
            self.arguments = arguments.compactString
        }

        public init(_ name: String, rawArguments: String) {
            self.name = name
            self.arguments = rawArguments
        }
    }

    public enum Answer: Sendable {
        case tools([Call])
        case text(String)
        /// An HTTP error with an OpenAI-style error body.
        case failure(status: Int, message: String)
        /// Waits this long before answering "too late" (longer than the client's timeout makes a timeout).
        case stall(Duration)
    }

    public struct Step: Sendable {
        public var answer: Answer
        /// Runs when the request arrives, before the answer: e.g. an operator takes the thread over here.
        public var before: (@Sendable () async -> Void)?

        public init(_ answer: Answer, before: (@Sendable () async -> Void)? = nil) {
            self.answer = answer
            self.before = before
        }
    }

    private struct State {
        var script: [Step]
        var requests: [JSONValue] = []
        var authorizations: [String?] = []
        var callNumber = 0
    }

    private let state: Mutex<State>
    private let server = LocalHTTPServer(
        name: "FakeChatCompletions", logger: Logger(label: "dmdesk.fake-chat", factory: { _ in SwiftLogNoOpLogHandler() }))
    private let brain: (@Sendable (JSONValue) -> Answer)?
    private let latency: Duration

    /// - Parameters:
    ///   - script: the answers to the first requests, in order.
    ///   - brain: answers each request once the script has run out (the demo's model); without it, "Done.".
    ///   - latency: added before every answer, so the demo's model feels like one.
    public init(script: [Step] = [], brain: (@Sendable (_ request: JSONValue) -> Answer)? = nil, latency: Duration = .zero) {
        state = Mutex(State(script: script))
        self.brain = brain
        self.latency = latency
    }

    public convenience init(answers: [Answer]) {
        self.init(script: answers.map { Step($0) })
    }

    /// Starts the server and returns the base URL to configure (`DMDESK_LLM_BASE_URL`), ending in `/v1`.
    @discardableResult
    public func start() async throws -> String {
        let port = try await server.start { [weak self] request in
            guard let self else { return Response(status: .serviceUnavailable) }
            return try await self.respond(to: request)
        }
        return "http://127.0.0.1:\(port)/v1"
    }

    public func stop() async {
        await server.stop()
    }

    /// Appends answers to the script.
    public func enqueue(_ steps: [Step]) { state.withLock { $0.script += steps } }

    /// Every request body received, in order.
    public func requests() -> [JSONValue] { state.withLock { $0.requests } }

    /// The Authorization header of each request (nil when there was none).
    public func authorizations() -> [String?] { state.withLock { $0.authorizations } }

    private func respond(to request: Request) async throws -> Response {
        var request = request
        let bytes = try await request.collectBody(upTo: 16 << 20)
        let body = try? JSONValue.parse(Data(bytes.readableBytesView))
        guard request.method == .post, request.uri.path.hasSuffix("/chat/completions") else {
            return Self.error(status: 404, message: "Unknown request URL: \(request.method) \(request.uri.path)")
        }
        guard let body, let model = body["model"]?.stringValue, body["messages"]?.arrayValue != nil else {
            return Self.error(status: 400, message: "'model' and 'messages' are required")
        }
        let authorization = request.headers[.authorization]
        let (step, number) = state.withLock { s -> (Step?, Int) in
            s.requests.append(body)
            s.authorizations.append(authorization)
            s.callNumber += 1
            return (s.script.isEmpty ? nil : s.script.removeFirst(), s.callNumber)
        }
        await step?.before?()
        if latency > .zero { try? await Task.sleep(for: latency) }
        switch step?.answer ?? brain?(body) ?? .text("Done.") {
        case .tools(let calls):
            let toolCalls: [JSONValue] = calls.enumerated().map { i, call in
                [
                    "id": .string("call_\(number)_\(i)"), "type": "function",
                    "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                ]
            }
            return Self.completion(model: model, message: ["role": "assistant", "content": .null, "tool_calls": .array(toolCalls)],
                                   finish: "tool_calls", number: number)
        case .text(let text):
            return Self.completion(model: model, message: ["role": "assistant", "content": .string(text)], finish: "stop",
                                   number: number)
        case .failure(let status, let message):
            return Self.error(status: status, message: message)
        case .stall(let duration):
            try? await Task.sleep(for: duration)
            return Self.completion(model: model, message: ["role": "assistant", "content": "too late"], finish: "stop",
                                   number: number)
        }
    }

    private static func completion(model: String, message: JSONValue, finish: String, number: Int) -> Response {
        json([
            "id": .string("chatcmpl-fake\(number)"), "object": "chat.completion",
            "created": .number(Double(Int(Date().timeIntervalSince1970))), "model": .string(model),
            "choices": [["index": 0, "message": message, "finish_reason": .string(finish)]],
            "usage": ["prompt_tokens": .number(Double(100 + number)), "completion_tokens": .number(Double(10 + number)),
                      "total_tokens": .number(Double(110 + 2 * number))],
        ])
    }

    private static func error(status: Int, message: String) -> Response {
        json(["error": ["message": .string(message), "type": "invalid_request_error", "code": .null]], status: status)
    }

    private static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }
}
