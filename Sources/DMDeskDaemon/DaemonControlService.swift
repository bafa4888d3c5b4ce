import DMDeskControl
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation

/// Answers control-socket requests: everything an operator does is one of these.
struct DaemonControlService: ControlService {
    let store: any InboxStore
    let config: DMDeskConfig
    let fanOut: FanOut
    let health: HealthReporter
    let notifier: ManagerNotifier
    let tokenRefresher: TokenRefresher
    let sync: ConversationSync
    let snoozes: SnoozeWaker

    func helloLine() -> ServerLine {
        .hello(daemon: DaemonRuntime.version, account: config.accountId, listener: health.listener, humanAgentTag: config.humanAgentTag)
    }

    /// Called on the client's reader thread (not async code), hence the blocking form.
    func journal(after seq: Int64, limit: Int) throws -> [JournalEvent] {
        try store.blocking.journal(after: seq, limit: limit)
    }

    func journalBounds() throws -> JournalBounds? {
        try store.blocking.journalBounds()
    }

    /// Search on the client's reader thread (see `ControlService.answerOnReaderThread`), through the store's blocking
    /// form; everything else goes to `handle`.
    func answerOnReaderThread(_ request: ControlRequest) -> Result<JSONValue, ControlError>? {
        guard request.type == ControlRequestType.search.rawValue else { return nil }
        do {
            return .success(["hits": .array(try store.blocking.search(try Self.searchQuery(request)).map(JSONValue.init))])
        } catch let error as ControlError {
            return .failure(error)
        } catch {
            return .failure(ControlError(code: "internal", message: "search failed: \(error)"))
        }
    }

    static func searchQuery(_ r: ControlRequest) throws -> MessageSearch {
        guard let text = r.text, MessageSearch.fts5(text) != nil else {
            throw ControlError.badRequest("search needs `text`: the words to look for")
        }
        return MessageSearch(text: text, thread: r.thread, limit: min(max(r.limit ?? 50, 1), 500))
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
            defer { snoozes.rearm() }
            return try await updateThread(r) {
                $0.status = .resolved
                $0.awaiting_operator = false
                $0.snoozed_until = nil
            }
        case .reopen:
            defer { snoozes.rearm() }
            return try await updateThread(r) {
                $0.status = .open
                $0.snoozed_until = nil
            }
        case .markRead:
            return try await updateThread(r) {
                $0.unread = 0
                $0.snooze_ended_at = nil
            }
        case .snooze:
            return try await snooze(r)
        case .open:
            // Off by default: opening a thread by mistake should not tell a customer it was read.
            let thread = try await requireThread(r)
            if config.markSeen { fanOut.outbox.senderActions.send(.markSeen, to: thread.id) }
            return ["thread": .string(thread.id), "mark_seen": .bool(config.markSeen)]
        case .notify:
            return try await notify(r)
        case .status:
            return ["status": .from(await health.status())]
        case .search:
            return ["hits": .array(try await store.search(try Self.searchQuery(r)).map(JSONValue.init))]
        case .tokenStatus:
            return ["token": .from(tokenRefresher.report)]
        case .tokenRefresh:
            switch await tokenRefresher.refresh(trigger: "operator") {
            case .success(let report): return ["token": .from(report)]
            case .failure(let error): throw error
            }
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
        case .comments:
            return try await comments(r)  // DaemonControlService+Comments.swift
        case .commentReply:
            return try await commentReply(r)
        case .sync:
            guard let after = r.after else { throw ControlError.badRequest("sync needs `after`: the time (epoch ms) to sync from") }
            do { return .from(try await sync.run(since: after)) } catch let failure as SyncFailure {
                throw ControlError(code: "sync_failed", message: failure.description)
            }
        case .subscribe:
            throw ControlError.badRequest("subscribe is handled by the server")
        }
    }

    /// `snooze`: until `until`, or until the customer writes; `cancel` opens the thread again now. A time already
    /// past is refused (the console and the CLI read times in the operator's zone and send epoch milliseconds).
    private func snooze(_ r: ControlRequest) async throws -> JSONValue {
        defer { snoozes.rearm() }
        if r.cancel == true {
            let thread = try await requireThread(r)
            guard thread.status == .snoozed else { throw ControlError.badRequest("thread \(thread.id) is not snoozed") }
            return try await updateThread(r) {
                $0.status = .open
                $0.snoozed_until = nil
            }
        }
        if let until = r.until, until <= snoozes.clock.now() {
            throw ControlError.badRequest("`until` is in the past: a snooze must end later")
        }
        return try await updateThread(r) {
            $0.status = .snoozed
            $0.snoozed_until = r.until
            $0.snooze_ended_at = nil
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

    /// A manual DM — a text, media by URL, or both (two messages, the text first) — checked against Meta's limits
    /// and window before anything is queued.
    private func send(_ r: ControlRequest) async throws -> JSONValue {
        let thread = try await requireThread(r)
        let text = (r.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty || r.attachment != nil else { throw ControlError.badRequest("`text` is empty (and there is no `attachment`)") }
        let bytes = text.utf8.count
        guard bytes <= maxMessageBytes else {
            throw ControlError(code: "too_long", message: "message is \(bytes) bytes; Instagram allows \(maxMessageBytes)")
        }
        let policy = SendWindowPolicy(humanAgentTag: config.humanAgentTag)
        let decision = policy.check(lastInboundAt: thread.lastInboundAt, author: .operator)
        if let refusal = policy.refusal(lastInboundAt: thread.lastInboundAt) {
            throw ControlError(code: "outside_window", message: refusal)
        }
        // The tag is decided again just before each call (OutboxWorker): this is what it was when queued.
        let payload: JSONValue = decision == .humanAgentTag ? ["human_agent_tag": true] : [:]
        var drafts: [OutboundDraft] = []
        if !text.isEmpty {
            drafts.append(OutboundDraft(thread: thread.id, recipient: thread.id, kind: .manual, text: text, payload: payload, author: .operator))
        }
        if let attachment = r.attachment {
            drafts.append(OutboundDraft(
                thread: thread.id, recipient: thread.id, kind: .manual, text: nil, payload: payload, author: .operator,
                attachment: attachment))
        }
        // Replying by hand takes the thread over, so the bot does not answer over the operator. One transaction: the
        // rows get consecutive ids, and the recipient's sender sends them in that order.
        let changes = try await store.enqueue(drafts, takeOver: true)
        for change in changes { fanOut.publish(change.events) }
        for change in changes { fanOut.submit(change.record) }
        if !text.isEmpty { await fanOut.redis.pushAsync([ContextTurn(customer: thread.id, role: .assistant, text: text)]) }
        var result: [String: JSONValue] = ["outbound": .from(changes[changes.count - 1].record.view)]
        if changes.count > 1 { result["outbounds"] = .array(changes.map { .from($0.record.view) }) }
        return .object(result)
    }

    private func notify(_ r: ControlRequest) async throws -> JSONValue {
        let text = (r.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ControlError.badRequest("`text` is empty") }
        let change = try await notifier.enqueue(text: text, thread: r.thread)
        return ["outbound": .from(change.record.view)]
    }
}
