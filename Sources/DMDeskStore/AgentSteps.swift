import DMDeskCore
import Foundation
import GRDB

extension SQLiteStore {
    public func recordAgentStep(_ draft: AgentStepDraft, thread: String, batch: String, now: EpochMillis) async throws
        -> (AgentStepView, JournalEvent)
    {
        func bounded(_ text: String?) -> String? {
            guard let text, text.count > StorePolicy.maxStepText else { return text }
            return String(text.prefix(StorePolicy.maxStepText)) + "…"
        }
        let arguments = bounded(draft.arguments)
        let result = bounded(draft.result)
        return try await write(.replies) { db in
            var record = AgentStepRecord(
                id: nil, thread_id: thread, batch: batch, kind: draft.kind, tool: draft.tool, arguments: arguments,
                result: result, ok: draft.ok, latency_ms: draft.latencyMs, prompt_tokens: draft.promptTokens,
                completion_tokens: draft.completionTokens, at: now)
            try record.insert(db)
            let view = record.view
            let event = try Self.journal(db, type: EventType.agentStep, thread: thread, data: .from(view), at: now)
            return (view, event)
        }
    }

    public func agentSteps(thread: String, before: EpochMillis?, limit: Int) async throws -> [AgentStepView] {
        try await read { db in
            try AgentStepRecord.fetchAll(
                db,
                sql: "SELECT * FROM agent_steps WHERE thread_id = ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?",
                arguments: [thread, before ?? Int64.max, limit]
            ).reversed().map(\.view)
        }
    }

    public func agentAnsweredMessages(thread: String, batch: String) async throws -> [String]? {
        try await read { db in
            let placeholders = StorePolicy.actingTools.map { _ in "?" }.joined(separator: ",")
            let acted = try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM agent_steps WHERE thread_id = ? AND batch = ? AND kind = 'tool' AND ok
                                   AND tool IN (\(placeholders)))
                    """,
                arguments: StatementArguments([thread, batch] + StorePolicy.actingTools)) ?? false
            guard acted else { return nil }
            let first = try String.fetchOne(
                db,
                sql: "SELECT arguments FROM agent_steps WHERE thread_id = ? AND batch = ? AND kind = 'request' ORDER BY id LIMIT 1",
                arguments: [thread, batch])
            guard let first, let list = try? JSONValue.parse(Data(first.utf8)).arrayValue else { return [batch] }
            return list.compactMap(\.stringValue)
        }
    }
}
