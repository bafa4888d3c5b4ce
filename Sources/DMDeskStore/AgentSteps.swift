import DMDeskCore
import Foundation
import GRDB

public struct AgentStepRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord, Equatable {
    public static let databaseTableName = "agent_steps"
    public var id: Int64?
    public var thread_id: String
    public var batch: String
    public var kind: String
    public var tool: String?
    public var arguments: String?
    public var result: String?
    public var ok: Bool
    public var latency_ms: Int?
    public var prompt_tokens: Int?
    public var completion_tokens: Int?
    public var at: EpochMillis

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public var view: AgentStepView {
        AgentStepView(
            id: id ?? 0, thread: thread_id, batch: batch, kind: AgentStepKind(rawValue: kind) ?? .request, tool: tool,
            arguments: arguments, result: result, ok: ok, latencyMs: latency_ms, promptTokens: prompt_tokens,
            completionTokens: completion_tokens, at: at)
    }
}

extension Store {
    /// Long tool arguments and results are kept, but not without bound.
    static let maxStepText = 4000

    /// Stores one agent step and journals it as `agent.step`, in one transaction.
    public func recordAgentStep(_ draft: AgentStepDraft, thread: String, batch: String, now: EpochMillis = nowMillis())
        throws -> (AgentStepView, JournalEvent)
    {
        func bounded(_ text: String?) -> String? {
            guard let text, text.count > Self.maxStepText else { return text }
            return String(text.prefix(Self.maxStepText)) + "…"
        }
        return try write(.replies) { db in
            var record = AgentStepRecord(
                id: nil, thread_id: thread, batch: batch, kind: draft.kind.rawValue, tool: draft.tool,
                arguments: bounded(draft.arguments), result: bounded(draft.result), ok: draft.ok, latency_ms: draft.latencyMs,
                prompt_tokens: draft.promptTokens, completion_tokens: draft.completionTokens, at: now)
            try record.insert(db)
            let view = record.view
            let event = try Self.journal(db, type: EventType.agentStep, thread: thread, data: .from(view), at: now)
            return (view, event)
        }
    }

    /// The latest `limit` agent steps of a thread, oldest first (optionally only those before `before`).
    public func agentSteps(thread: String, before: EpochMillis? = nil, limit: Int = 200) throws -> [AgentStepView] {
        try pool.read { db in
            try AgentStepRecord.fetchAll(
                db,
                sql: "SELECT * FROM agent_steps WHERE thread_id = ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?",
                arguments: [thread, before ?? Int64.max, limit]
            ).reversed().map(\.view)
        }
    }

    /// The tools whose calls change something outside the store: after one of them, a batch must not be answered again.
    public static let actingTools = ["send_message", "react", "notify_manager", "handover"]

    /// For a batch whose agent run was cut short (the daemon stopped or crashed): the message ids that run was
    /// answering (its first `request` step's `arguments`) if it had already acted, else nil (answer it afresh).
    public func agentAnsweredMessages(thread: String, batch: String) throws -> [String]? {
        try pool.read { db in
            let placeholders = Self.actingTools.map { _ in "?" }.joined(separator: ",")
            let acted = try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM agent_steps WHERE thread_id = ? AND batch = ? AND kind = 'tool' AND ok
                                   AND tool IN (\(placeholders)))
                    """,
                arguments: StatementArguments([thread, batch] + Self.actingTools)) ?? false
            guard acted else { return nil }
            let first = try String.fetchOne(
                db,
                sql: "SELECT arguments FROM agent_steps WHERE thread_id = ? AND batch = ? AND kind = 'request' ORDER BY id LIMIT 1",
                arguments: [thread, batch])
            guard let first, let list = try? JSONValue.parse(Data(first.utf8)).arrayValue else { return [batch] }
            return list.compactMap(\.stringValue)
        }
    }

    /// Claimed messages go back to `pending` (to be answered in a batch of their own).
    @discardableResult
    public func releaseToPending(mids: [String]) throws -> Int {
        guard !mids.isEmpty else { return 0 }
        return try write(.replies) { db in
            let statement = try db.cachedStatement(sql: "UPDATE messages SET status = 'pending' WHERE mid = ? AND status = 'processing'")
            var changed = 0
            for mid in mids {
                try statement.execute(arguments: [mid])
                changed += db.changesCount
            }
            return changed
        }
    }
}
