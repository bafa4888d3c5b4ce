import DMDeskControl
import DMDeskCore
import DMDeskStore
import Foundation

/// Answers control-socket requests: everything an operator does is one of these.
struct DaemonControlService: ControlService {
    let store: any InboxStore
    let config: DMDeskConfig
    let fanOut: FanOut
    let health: HealthReporter
    let notifier: ManagerNotifier

    func helloLine() -> ServerLine {
        .hello(daemon: DaemonRuntime.version, account: config.accountId, listener: health.listener)
    }

    /// Called on the client's reader thread (not async code), hence the blocking form.
    func journal(after seq: Int64, limit: Int) throws -> [JournalEvent] {
        try store.blocking.journal(after: seq, limit: limit)
    }

    func journalBounds() throws -> JournalBounds? {
        try store.blocking.journalBounds()
    }

    func handle(_ request: ControlRequest) async -> Result<JSONValue, ControlError> {
        do {
            return .success(try await dispatch(request))
        } catch let error as ControlError {
            return .failure(error)
        } catch let error as BackupError {
            return .failure(ControlError(code: "backup_failed", message: "\(error)"))
        } catch let error as StoreError {
            if case .notFound(let what) = error { return .failure(.notFound("\(what) not found")) }
            return .failure(ControlError(code: "invalid", message: "\(error)"))
        } catch {
            return .failure(ControlError(code: "internal", message: "\(error)"))
        }
    }

    private func dispatch(_ r: ControlRequest) async throws -> JSONValue {
        guard let type = ControlRequestType(rawValue: r.type) else {
            throw ControlError(code: "unknown_request", message: "unknown request type '\(r.type)'")
        }
        switch type {
        case .threads:
            let threads = try await store.threads(
                ThreadFilter(mode: r.mode, status: r.status, unreadOnly: r.unread ?? false, search: r.search,
                                   limit: r.limit ?? 50_000))
            return ["threads": .array(threads.map(JSONValue.init))]
        case .history:
            let thread = try await requireThread(r)
            let limit = min(max(r.limit ?? 200, 1), 5000)
            let messages = try await store.history(thread: thread.id, before: r.before, limit: limit)
            // The agent's steps over the same span, for the console to show between the messages.
            let since = messages.count >= limit ? messages.first?.timestamp ?? 0 : 0
            let steps = try await store.agentSteps(thread: thread.id, before: r.before, limit: limit).filter { $0.at >= since }
            return ["messages": .array(messages.map(JSONValue.init)), "steps": .array(steps.map { .from($0) })]
        case .send:
            return try await send(r)
        case .react:
            let thread = try await requireThread(r)
            guard let mid = r.mid, !mid.isEmpty else { throw ControlError.badRequest("react needs `mid`") }
            guard let message = try await store.message(mid: mid), message.thread_id == thread.id else {
                throw ControlError.notFound("message \(mid) not found in thread \(thread.id)")
            }
            let target = message.remote_mid ?? message.mid
            guard !target.hasPrefix("out:") else {
                throw ControlError(code: "not_sent", message: "that message has not been delivered yet")
            }
            let reaction = r.reaction.flatMap { $0.isEmpty ? nil : $0 }
            let change = try await store.enqueue(OutboundDraft(
                thread: thread.id, recipient: thread.id, kind: .reaction, text: reaction ?? "(unreact)",
                payload: ["mid": .string(target), "reaction": reaction.map { .string($0) } ?? .null], author: .operator))
            fanOut.publish(change.events)
            fanOut.submit(change.record)
            return ["outbound": .from(change.record.view)]
        case .takeover:
            return try await updateThread(r) {
                $0.mode = .human
                $0.awaiting_operator = false
            }
        case .release:
            return try await updateThread(r) {
                $0.mode = .auto
                $0.awaiting_operator = false
            }
        case .resolve:
            return try await updateThread(r) {
                $0.status = .resolved
                $0.awaiting_operator = false
            }
        case .reopen:
            return try await updateThread(r) { $0.status = .open }
        case .markRead:
            return try await updateThread(r) { $0.unread = 0 }
        case .notify:
            return try await notify(r)
        case .status:
            return ["status": .from(await health.status())]
        case .retry:
            guard let id = r.outbound else { throw ControlError.badRequest("retry needs `outbound` (an outbox id)") }
            let change = try await store.retryOutbound(id: id)
            fanOut.publish(change.events)
            fanOut.submit(change.record)
            return ["outbound": .from(change.record.view)]
        case .backup:
            guard let path = r.path, path.hasPrefix("/") else {
                throw ControlError.badRequest("backup needs `path`, an absolute file path (the daemon's working directory is not yours)")
            }
            return .from(try await store.backup(to: path))
        case .subscribe:
            throw ControlError.badRequest("subscribe is handled by the server")
        }
    }

    private func requireThread(_ r: ControlRequest) async throws -> ThreadSummary {
        guard let id = r.thread, !id.isEmpty else { throw ControlError.badRequest("`thread` is required") }
        guard let thread = try await store.thread(id) else { throw ControlError.notFound("thread \(id) not found") }
        return thread
    }

    private func updateThread(_ r: ControlRequest, _ change: @escaping @Sendable (inout ThreadRecord) -> Void) async throws -> JSONValue {
        let thread = try await requireThread(r)
        let (summary, event) = try await store.updateThread(thread.id, change)
        if let event { fanOut.publish([event]) }
        return ["thread": JSONValue(summary)]
    }

    /// A manual DM: checked against Meta's limits before anything is queued.
    private func send(_ r: ControlRequest) async throws -> JSONValue {
        let thread = try await requireThread(r)
        let text = (r.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ControlError.badRequest("`text` is empty") }
        let bytes = text.utf8.count
        guard bytes <= maxMessageBytes else {
            throw ControlError(code: "too_long", message: "message is \(bytes) bytes; Instagram allows \(maxMessageBytes)")
        }
        let policy = SendWindowPolicy(humanAgentTag: config.humanAgentTag)
        let decision = policy.check(lastInboundAt: thread.lastInboundAt)
        guard decision != .refused else {
            throw ControlError(
                code: "outside_window",
                message: policy.humanAgentTag
                    ? "the customer last wrote over 7 days ago; Instagram does not allow a reply"
                    : "the customer last wrote over 24 hours ago; Instagram does not allow a reply (set DMDESK_HUMAN_AGENT_TAG=true to reply within 7 days)")
        }
        // Replying by hand takes the thread over, so the bot does not answer over the operator.
        let change = try await store.enqueue(
            OutboundDraft(
                thread: thread.id, recipient: thread.id, kind: .manual, text: text,
                payload: decision == .humanAgentTag ? ["human_agent_tag": true] : [:], author: .operator),
            takeOver: true)
        fanOut.publish(change.events)
        fanOut.submit(change.record)
        await fanOut.redis.pushAsync([ContextTurn(customer: thread.id, role: .assistant, text: text)])
        return ["outbound": .from(change.record.view)]
    }

    private func notify(_ r: ControlRequest) async throws -> JSONValue {
        let text = (r.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ControlError.badRequest("`text` is empty") }
        let change = try await notifier.enqueue(text: text, thread: r.thread)
        return ["outbound": .from(change.record.view)]
    }
}
