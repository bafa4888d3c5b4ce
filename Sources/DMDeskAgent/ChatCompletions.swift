import AsyncHTTPClient
import DMDeskCore
import Foundation
import NIOCore
import NIOHTTP1

/// One tool call the model asked for. `arguments` is the JSON text exactly as the model wrote it.
public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// A chat-completions message (system, user, assistant with tool calls, or a tool result).
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant, tool }
    public var role: Role
    public var content: String?
    public var toolCalls: [ToolCall] = []
    public var toolCallId: String?

    public init(role: Role, content: String?, toolCalls: [ToolCall] = [], toolCallId: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, content: text) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, content: text) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: .assistant, content: text) }
    public static func toolResult(_ text: String, for call: ToolCall) -> ChatMessage {
        ChatMessage(role: .tool, content: text, toolCallId: call.id)
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["role": .string(role.rawValue), "content": content.map { .string($0) } ?? .null]
        if !toolCalls.isEmpty {
            o["tool_calls"] = .array(
                toolCalls.map { call in
                    ["id": .string(call.id), "type": "function",
                     "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                })
        }
        if let toolCallId { o["tool_call_id"] = .string(toolCallId) }
        return .object(o)
    }
}

/// What the model answered: its text, its tool calls, and token counts when the endpoint gives them.
public struct ChatReply: Sendable, Equatable {
    public var content: String?
    public var toolCalls: [ToolCall]
    public var promptTokens: Int?
    public var completionTokens: Int?

    public init(content: String?, toolCalls: [ToolCall], promptTokens: Int? = nil, completionTokens: Int? = nil) {
        self.content = content
        self.toolCalls = toolCalls
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    /// Reads an OpenAI-style `chat.completion` object.
    public static func parse(_ body: JSONValue) throws(ChatError) -> ChatReply {
        if let error = body["error"], error != .null {
            throw .badResponse("the endpoint answered with an error: \(error["message"]?.stringValue ?? error.encodedString())")
        }
        guard let message = body["choices"]?.arrayValue?.first?["message"] else {
            throw .badResponse("no choices[0].message in the answer")
        }
        var calls: [ToolCall] = []
        for (i, item) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
            guard let function = item["function"], let name = function["name"]?.stringValue else {
                throw .badResponse("tool_calls[\(i)] has no function name")
            }
            // Some local servers send the arguments as an object instead of a JSON string.
            let arguments: String
            switch function["arguments"] {
            case .string(let text)?: arguments = text
            case nil, .null?: arguments = "{}"
            case let other?: arguments = other.compactString
            }
            let id = item["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "call_\(i)"
            calls.append(ToolCall(id: id, name: name, arguments: arguments))
        }
        let usage = body["usage"]
        return ChatReply(
            content: message["content"]?.stringValue, toolCalls: calls,
            promptTokens: usage?["prompt_tokens"]?.doubleValue.map { Int($0) },
            completionTokens: usage?["completion_tokens"]?.doubleValue.map { Int($0) })
    }
}

public enum ChatError: Error, Equatable, CustomStringConvertible {
    case timeout(milliseconds: Int)
    case http(status: Int, message: String)
    case transport(String)
    case badResponse(String)

    public var description: String {
        switch self {
        case .timeout(let ms): return "the model did not answer within \(ms) ms"
        case .http(let status, let message): return "the endpoint answered HTTP \(status): \(message)"
        case .transport(let why): return "could not reach the endpoint: \(why)"
        case .badResponse(let why): return "unusable answer from the endpoint: \(why)"
        }
    }
}

/// Where the agent's model lives: any OpenAI-compatible chat-completions endpoint.
public struct ChatEndpoint: Sendable {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    public var baseURL: String
    public var model: String
    public var apiKey: String?
    public var timeoutMs: Int

    public init(baseURL: String, model: String, apiKey: String?, timeoutMs: Int) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeoutMs = timeoutMs
    }

    var completionsURL: String {
        let base = baseURL.trimmingSuffix("/")
        return base.hasSuffix("/chat/completions") ? base : base + "/chat/completions"
    }
}

/// Sends chat-completions requests. The API key only ever goes into the Authorization header.
public struct ChatClient: Sendable {
    public let endpoint: ChatEndpoint
    private let http: HTTPClient
    static let maxAnswerBytes = 8 << 20

    /// Like `HTTPClient.shared`, but a refused connection fails at once instead of being retried until the
    /// timeout: an endpoint that is down should hand the batch to the rules now, not in 30 seconds.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(endpoint: ChatEndpoint, http: HTTPClient = ChatClient.sharedHTTPClient) {
        self.endpoint = endpoint
        self.http = http
    }

    public func requestBody(_ messages: [ChatMessage], tools: [JSONValue]) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(endpoint.model), "messages": .array(messages.map(\.json)), "stream": false,
        ]
        if !tools.isEmpty {
            body["tools"] = .array(tools)
            body["tool_choice"] = "auto"
        }
        return .object(body)
    }

    /// One round trip, bounded by the endpoint's timeout (connecting, waiting and reading the answer).
    public func complete(_ messages: [ChatMessage], tools: [JSONValue]) async throws(ChatError) -> ChatReply {
        var request = HTTPClientRequest(url: endpoint.completionsURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key = endpoint.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(bytes: requestBody(messages, tools: tools).encoded()))
        let timeoutMs = endpoint.timeoutMs
        let http = self.http
        let prepared = request
        let outcome: Result<(Int, Data), ChatError> = await withTaskGroup(of: Result<(Int, Data), ChatError>?.self) { group in
            group.addTask {
                do {
                    let response = try await http.execute(prepared, timeout: .milliseconds(Int64(timeoutMs) + 1000))
                    let body = try await response.body.collect(upTo: Self.maxAnswerBytes)
                    return .success((Int(response.status.code), Data(body.readableBytesView)))
                } catch is CancellationError {
                    return nil
                } catch {
                    if Task.isCancelled { return nil }
                    return .failure(Self.describe(error, timeoutMs: timeoutMs))
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(timeoutMs))
                return Task.isCancelled ? nil : .failure(.timeout(milliseconds: timeoutMs))
            }
            var first: Result<(Int, Data), ChatError> = .failure(.timeout(milliseconds: timeoutMs))
            for await result in group {
                guard let result else { continue }
                first = result
                break
            }
            group.cancelAll()
            return first
        }
        let (status, data) = try outcome.get()
        let json = try? JSONValue.parse(data)
        guard (200..<300).contains(status) else {
            let message = json?["error"]?["message"]?.stringValue ?? json?["error"]?.stringValue
                ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw .http(status: status, message: message)
        }
        guard let json else { throw .badResponse("the answer is not JSON") }
        return try ChatReply.parse(json)
    }

    static func describe(_ error: Error, timeoutMs: Int) -> ChatError {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout {
            return .timeout(milliseconds: timeoutMs)
        }
        return .transport(URLSecrets.maskingPasswords(in: "\(error)"))  // it is stored and shown as a step
    }
}
