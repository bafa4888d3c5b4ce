import DMDeskCore
import Foundation

/// What the agent is told about the conversation: earlier turns (the Redis context) and the batch to answer.
public struct AgentInput: Sendable {
    public struct Turn: Sendable, Equatable {
        public var fromCustomer: Bool
        public var text: String
        public init(fromCustomer: Bool, text: String) {
            self.fromCustomer = fromCustomer
            self.text = text
        }
    }

    public struct NewMessage: Sendable, Equatable {
        public var id: String
        /// The text, or a description such as "(sent an attachment)".
        public var text: String
        public init(id: String, text: String) {
            self.id = id
            self.text = text
        }
    }

    public var systemPrompt: String
    public var customerName: String
    public var context: [Turn]
    public var newMessages: [NewMessage]

    public init(systemPrompt: String, customerName: String, context: [Turn], newMessages: [NewMessage]) {
        self.systemPrompt = systemPrompt
        self.customerName = customerName
        self.context = context
        self.newMessages = newMessages
    }

    /// The request's messages. The context already ends with the new messages' texts (ingest pushed them), so
    /// those trailing turns are dropped and the new messages follow with their ids, which `react` needs.
    public var chatMessages: [ChatMessage] {
        var earlier = context
        for message in newMessages.reversed() {
            guard let last = earlier.last, last.fromCustomer, last.text == message.text else { break }
            earlier.removeLast()
        }
        var out: [ChatMessage] = [.system(systemPrompt + "\n\nYou are talking with \(customerName).")]
        for turn in earlier { out.append(turn.fromCustomer ? .user(turn.text) : .assistant(turn.text)) }
        let fresh = newMessages.map { "[id: \($0.id)] \($0.text)" }.joined(separator: "\n")
        out.append(.user(fresh))
        return out
    }
}

/// What a tool call did, for the model and for the loop.
public struct ToolOutcome: Sendable, Equatable {
    /// Sent back to the model as the tool result.
    public var result: String
    public var ok: Bool
    /// Something reached the outbox (a message, a reaction, a notification, a handover).
    public var acted: Bool
    /// The agent must not go on: it handed over, or the thread was taken over.
    public var ends: Bool

    public init(result: String, ok: Bool = true, acted: Bool = false, ends: Bool = false) {
        self.result = result
        self.ok = ok
        self.acted = acted
        self.ends = ends
    }

    public static func refused(_ why: String) -> ToolOutcome { ToolOutcome(result: "error: \(why)", ok: false) }
}

/// Where the agent's actions land (the daemon: the store, the outbox, the event bus).
public protocol AgentEnvironment: Sendable {
    /// Why the agent must not act any more (an operator took the thread over), or nil.
    func stopReason() async -> String?
    /// Carries out a validated action through the same outbox, limits and error rules as everything else.
    func perform(_ action: AgentAction) async -> ToolOutcome
    func record(_ step: AgentStepDraft) async
}

public enum AgentOutcome: Sendable, Equatable {
    /// The model ended its turn (or used up its tool calls).
    case finished
    /// It handed the thread to a person.
    case handedOver
    /// An operator took the thread over, or the endpoint failed after the agent had already acted.
    case stopped(String)
    /// The endpoint failed or timed out before the agent did anything: answer with the rules instead.
    case fallback(String)
}

/// One batch, answered by the model through tools: ask, carry out each tool call, give the results back, ask
/// again — until the model stops calling tools, the tool-call cap is reached, or the thread is taken over.
public struct AgentLoop: Sendable {
    public var client: ChatClient
    public var maxToolCalls: Int

    public init(client: ChatClient, maxToolCalls: Int) {
        self.client = client
        self.maxToolCalls = max(1, maxToolCalls)
    }

    public func run(_ input: AgentInput, in env: some AgentEnvironment) async -> AgentOutcome {
        var messages = input.chatMessages
        let tools = AgentTools.definitions
        var calls = 0
        var acted = false
        func limitReached() async -> AgentOutcome {
            await env.record(AgentStepDraft(kind: .stopped, result: "tool-call limit reached (\(maxToolCalls) per batch)"))
            return .finished
        }
        while true {
            if let why = await env.stopReason() {
                await env.record(AgentStepDraft(kind: .stopped, result: why))
                return .stopped(why)
            }
            let started = ContinuousClock.now
            let reply: ChatReply
            do {
                reply = try await client.complete(messages, tools: tools)
            } catch {
                let ms = started.duration(to: .now).milliseconds
                if acted {
                    let why = "\(error) (after acting; the rules do not answer on top)"
                    await env.record(AgentStepDraft(kind: .stopped, result: why, ok: false, latencyMs: ms))
                    return .stopped(why)
                }
                await env.record(AgentStepDraft(kind: .fallback, result: error.description, ok: false, latencyMs: ms))
                return .fallback(error.description)
            }
            let ms = started.duration(to: .now).milliseconds
            let asked = reply.toolCalls.isEmpty ? "text" : reply.toolCalls.map(\.name).joined(separator: ", ")
            await env.record(
                AgentStepDraft(
                    kind: .request, result: "\(messages.count) messages, \(tools.count) tools → \(asked)", latencyMs: ms,
                    promptTokens: reply.promptTokens, completionTokens: reply.completionTokens))
            guard !reply.toolCalls.isEmpty else {
                await env.record(AgentStepDraft(kind: .finished, result: reply.content))
                return .finished
            }
            messages.append(ChatMessage(role: .assistant, content: reply.content, toolCalls: reply.toolCalls))
            for call in reply.toolCalls {
                if calls >= maxToolCalls { return await limitReached() }
                calls += 1
                if let why = await env.stopReason() {
                    await env.record(AgentStepDraft(kind: .stopped, result: why))
                    return .stopped(why)
                }
                let toolStarted = ContinuousClock.now
                let parsed = AgentTools.parse(call)
                let outcome: ToolOutcome
                switch parsed {
                case .failure(let problem): outcome = .refused(problem.message)
                case .success(let action): outcome = await env.perform(action)
                }
                acted = acted || outcome.acted
                await env.record(
                    AgentStepDraft(
                        kind: .tool, tool: call.name, arguments: call.arguments, result: outcome.result, ok: outcome.ok,
                        latencyMs: toolStarted.duration(to: .now).milliseconds))
                if outcome.ends {
                    if case .success(.handover) = parsed { return .handedOver }
                    return .stopped(outcome.result)
                }
                messages.append(.toolResult(outcome.result, for: call))
            }
            // Out of tool calls: no point asking the model again.
            if calls >= maxToolCalls { return await limitReached() }
        }
    }
}
