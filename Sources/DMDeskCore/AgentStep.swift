import Foundation

public enum AgentStepKind: String, Codable, Sendable, CaseIterable {
    /// One chat-completions round trip: what was asked, what came back, how long, how many tokens.
    case request
    /// One tool call and its result.
    case tool
    /// The endpoint failed or timed out before the agent acted: the rules responder answered instead.
    case fallback
    /// The agent was stopped: the thread was taken over, or the tool-call cap was reached.
    case stopped
    /// The model ended its turn (with the text it said, which is never sent by itself).
    case finished
}

/// One step of the agent responder for a thread, as stored (`agent_steps`), published (`agent.step`) and shown by
/// the console as a line of the conversation.
public struct AgentStepView: Codable, Sendable, Equatable {
    public var id: Int64
    public var thread: String
    /// The first message id of the batch the step belongs to: steps of one batch share it.
    public var batch: String
    public var kind: AgentStepKind
    public var tool: String?
    /// The tool call's arguments as the model sent them (JSON text, possibly invalid).
    public var arguments: String?
    /// The tool result, the model's text, or why the agent fell back or stopped.
    public var result: String?
    public var ok: Bool
    public var latencyMs: Int?
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var at: EpochMillis
    /// One line for people: the console shows it as is.
    public var summary: String

    public init(
        id: Int64, thread: String, batch: String, kind: AgentStepKind, tool: String? = nil, arguments: String? = nil,
        result: String? = nil, ok: Bool = true, latencyMs: Int? = nil, promptTokens: Int? = nil,
        completionTokens: Int? = nil, at: EpochMillis
    ) {
        self.id = id
        self.thread = thread
        self.batch = batch
        self.kind = kind
        self.tool = tool
        self.arguments = arguments
        self.result = result
        self.ok = ok
        self.latencyMs = latencyMs
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.at = at
        self.summary = ""
        self.summary = Self.summarize(self)
    }

    static func summarize(_ s: AgentStepView) -> String {
        func clip(_ text: String?, _ n: Int) -> String {
            let flat = (text ?? "").replacingOccurrences(of: "\n", with: " ")
            return flat.count > n ? String(flat.prefix(n)) + "…" : flat
        }
        var timing = ""
        if let ms = s.latencyMs { timing += " · \(ms) ms" }
        if let p = s.promptTokens, let c = s.completionTokens { timing += " · \(p)+\(c) tokens" }
        switch s.kind {
        case .request:
            return "agent ⇄ model: \(clip(s.result, 120))\(timing)"
        case .tool:
            let mark = s.ok ? "✓" : "✗"
            return "agent \(s.tool ?? "?")(\(clip(s.arguments, 80))) \(mark) \(clip(s.result, 100))\(timing)"
        case .fallback:
            return "agent failed, rules answered: \(clip(s.result, 160))\(timing)"
        case .stopped:
            return "agent stopped: \(clip(s.result, 160))"
        case .finished:
            let said = clip(s.result, 120)
            return said.isEmpty ? "agent done" : "agent done, said (not sent): \(said)"
        }
    }

    /// The console's conversation line for this step.
    public var line: MessageView {
        MessageView(id: "step:\(id)", thread: thread, direction: .outbound, author: .system, text: summary, timestamp: at)
    }
}

/// What the agent wants to record; the store gives it an id and a time.
public struct AgentStepDraft: Sendable {
    public var kind: AgentStepKind
    public var tool: String?
    public var arguments: String?
    public var result: String?
    public var ok: Bool
    public var latencyMs: Int?
    public var promptTokens: Int?
    public var completionTokens: Int?

    public init(
        kind: AgentStepKind, tool: String? = nil, arguments: String? = nil, result: String? = nil, ok: Bool = true,
        latencyMs: Int? = nil, promptTokens: Int? = nil, completionTokens: Int? = nil
    ) {
        self.kind = kind
        self.tool = tool
        self.arguments = arguments
        self.result = result
        self.ok = ok
        self.latencyMs = latencyMs
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}
