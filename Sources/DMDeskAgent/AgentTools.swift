import DMDeskCore
import Foundation

/// Everything the agent can do. It acts only through these; each becomes an outbox row or a read.
public enum AgentAction: Sendable, Equatable {
    case sendMessage(text: String)
    case react(messageId: String, reaction: String)
    case getThreadMessages(limit: Int)
    case notifyManager(text: String)
    case handover(reason: String)

    public var toolName: String {
        switch self {
        case .sendMessage: return "send_message"
        case .react: return "react"
        case .getThreadMessages: return "get_thread_messages"
        case .notifyManager: return "notify_manager"
        case .handover: return "handover"
        }
    }
}

/// A tool call the agent cannot carry out as written; the message goes back to the model as the tool result.
public struct ToolArgumentError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The tools offered to the model (chat-completions `tools` format) and the checks on what it sends back.
public enum AgentTools {
    public static let names = ["send_message", "react", "get_thread_messages", "notify_manager", "handover"]
    public static let maxHistory = 50
    public static let defaultHistory = 20

    public static var definitions: [JSONValue] {
        func tool(_ name: String, _ description: String, _ properties: [String: JSONValue], required: [String]) -> JSONValue {
            [
                "type": "function",
                "function": [
                    "name": .string(name), "description": .string(description),
                    "parameters": [
                        "type": "object", "properties": .object(properties),
                        "required": .array(required.map { .string($0) }), "additionalProperties": false,
                    ],
                ],
            ]
        }
        return [
            tool(
                "send_message",
                "Send an Instagram direct message to the customer. At most \(maxMessageBytes) bytes of UTF-8; call it again for more.",
                ["text": ["type": "string", "description": "The message text."]], required: ["text"]),
            tool(
                "react",
                "React to one of the customer's messages, e.g. with \"love\". Message ids appear as [id: …] before each message.",
                [
                    "message_id": ["type": "string", "description": "The id of the customer's message."],
                    "reaction": ["type": "string", "description": "The reaction, e.g. \"love\"."],
                ], required: ["message_id", "reaction"]),
            tool(
                "get_thread_messages",
                "Fetch older messages of this conversation than those you were given, oldest first.",
                ["limit": ["type": "integer", "description": .string("How many messages, 1 to \(maxHistory).")]], required: ["limit"]),
            tool(
                "notify_manager",
                "Send a WhatsApp message to the shop's manager, e.g. about an urgent problem. The customer does not see it.",
                ["text": ["type": "string", "description": "What the manager should know."]], required: ["text"]),
            tool(
                "handover",
                "Hand the conversation to a person on the team. The bot stops answering this customer until a person hands it back.",
                ["reason": ["type": "string", "description": "Why a person is needed."]], required: ["reason"]),
        ]
    }

    /// Validates a tool call: known tool, a JSON object of arguments, required strings present and within limits.
    public static func parse(_ call: ToolCall) -> Result<AgentAction, ToolArgumentError> {
        guard names.contains(call.name) else {
            return .failure(ToolArgumentError("unknown tool '\(call.name)'; the tools are \(names.joined(separator: ", "))"))
        }
        let trimmed = call.arguments.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let json = try? JSONValue.parse(Data((trimmed.isEmpty ? "{}" : trimmed).utf8)), case .object(let args) = json else {
            return .failure(ToolArgumentError("the arguments of \(call.name) are not a JSON object"))
        }
        func string(_ key: String, allowEmpty: Bool = false) throws(ToolArgumentError) -> String {
            guard let value = args[key] else { throw ToolArgumentError("\(call.name) needs `\(key)` (a string)") }
            guard case .string(let text) = value else { throw ToolArgumentError("`\(key)` must be a string") }
            let clean = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if clean.isEmpty && !allowEmpty { throw ToolArgumentError("`\(key)` is empty") }
            return clean
        }
        func message(_ key: String) throws(ToolArgumentError) -> String {
            let text = try string(key)
            let bytes = text.utf8.count
            guard bytes <= maxMessageBytes else {
                throw ToolArgumentError("`\(key)` is \(bytes) bytes; the limit is \(maxMessageBytes). Send shorter messages.")
            }
            return text
        }
        do throws(ToolArgumentError) {
            switch call.name {
            case "send_message":
                return .success(.sendMessage(text: try message("text")))
            case "react":
                let reaction = try string("reaction")
                guard reaction.utf8.count <= 32 else { throw ToolArgumentError("`reaction` is too long") }
                return .success(.react(messageId: try string("message_id"), reaction: reaction))
            case "get_thread_messages":
                var limit = defaultHistory
                switch args["limit"] {
                case nil, .null?: break
                case .number(let n)? where n == n.rounded(): limit = Int(n)
                case .string(let s)? where Int(s) != nil: limit = Int(s)!
                default: throw ToolArgumentError("`limit` must be an integer from 1 to \(maxHistory)")
                }
                return .success(.getThreadMessages(limit: min(max(limit, 1), maxHistory)))
            case "notify_manager":
                return .success(.notifyManager(text: try string("text")))
            default:
                let reason = try string("reason", allowEmpty: true)
                return .success(.handover(reason: reason.isEmpty ? "no reason given" : reason))
            }
        } catch {
            return .failure(error)
        }
    }
}
