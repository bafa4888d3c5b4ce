import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// Sends outbox rows through the Graph API. Rows for one recipient go out strictly in order, one at a time;
/// different recipients are sent in parallel. Every attempt's result is written back before the next row.
///
/// The senders never touch SQLite themselves: the "still pending?" check before a send and the result after it
/// go to one committer (a serial dispatch queue, off Swift's cooperative pool), which takes everything that
/// queued up while it was busy and handles it at once — the checks in one read, the results in one transaction
/// (group commit) — then publishes the events in commit order and wakes the senders.
public final class OutboxWorker: Sendable {
    private let store: Store
    private let graph: GraphClient
    private let config: DMDeskConfig
    private let policy: RetryPolicy
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let tokenState: TokenState
    private let queues = Mutex<[String: [(record: OutboundRecord, fresh: Bool)]]>([:])
    private let inFlight = Mutex<Set<Int64>>([])
    let committer: OutboxCommitter

    init(
        store: Store, graph: GraphClient, config: DMDeskConfig, policy: RetryPolicy, tokenState: TokenState,
        logger: Logger, publish: @escaping @Sendable ([JournalEvent]) -> Void
    ) {
        self.store = store
        self.graph = graph
        self.config = config
        self.policy = policy
        self.tokenState = tokenState
        self.logger = logger
        self.publish = publish
        self.committer = OutboxCommitter(store: store, logger: logger, publish: publish)
    }

    /// Sends every row left pending by a previous run, in id order.
    public func resumePending() {
        do {
            for record in try store.pendingOutbound() { submit(record) }
        } catch {
            logger.error("could not read pending outbox rows", metadata: ["error": "\(error)"])
        }
    }

    /// Queues a row; starts a sender for its recipient if none is running.
    ///
    /// `fresh`: the caller committed this row as `pending` just now and hands it to nobody else (the processor's
    /// replies), so the sender need not read it back before sending. Any other row — resumed at start-up, retried,
    /// or possibly submitted twice — is checked against the store first, so none is ever sent twice.
    public func submit(_ record: OutboundRecord, fresh: Bool = false) {
        guard let id = record.id else { return }
        let key = record.channel + ":" + record.recipient
        let isNew = inFlight.withLock { $0.insert(id).inserted }
        guard isNew else { return }
        let startSender = queues.withLock { queues -> Bool in
            if queues[key] != nil {
                queues[key]!.append((record, fresh))
                return false
            }
            queues[key] = [(record, fresh)]
            return true
        }
        if startSender {
            Task.detached { await self.drain(key: key) }
        }
    }

    private func drain(key: String) async {
        while true {
            let next: (record: OutboundRecord, fresh: Bool)? = queues.withLock { queues in
                guard var list = queues[key], !list.isEmpty else {
                    queues[key] = nil
                    return nil
                }
                let item = list.removeFirst()
                queues[key] = list
                return item
            }
            guard let next, let id = next.record.id else { return }
            await send(next.record, id: id, fresh: next.fresh)
            _ = inFlight.withLock { $0.remove(id) }
        }
    }

    private func send(_ submitted: OutboundRecord, id: Int64, fresh: Bool) async {
        var record = submitted
        if !fresh {
            // The row as it is now: only a row still pending is sent (a stale submission of a row already sent is not).
            guard let current = await committer.check(id), current.status == "pending" else { return }
            record.attempts = current.attempts
        } else if record.status != "pending" {
            return
        }
        let attempts = Mutex(record.attempts)
        let onFailure: @Sendable (Int, GraphError) -> Void = { [logger] attempt, error in
            attempts.withLock { $0 += 1 }
            logger.warning("send attempt failed", metadata: ["outbound": "\(id)", "attempt": "\(attempt)", "error": "\(error)"])
        }
        do {
            let result = try await perform(record, onFailure: onFailure)
            await committer.finish(
                OutboundResult(id: id, status: .sent, attempts: attempts.withLock { $0 } + 1, remoteId: result.messageId))
        } catch {
            if error.isTokenInvalid { tokenState.markInvalid("\(error)") }
            await recordFailure("\(error)", id: id, attempts: attempts.withLock { $0 })
        }
    }

    private func recordFailure(_ reason: String, id: Int64, attempts: Int) async {
        logger.error("send failed", metadata: ["outbound": "\(id)", "reason": "\(reason)"])
        await committer.finish(OutboundResult(id: id, status: .failed, attempts: max(attempts, 1), error: reason))
    }

    private func perform(_ record: OutboundRecord, onFailure: @escaping @Sendable (Int, GraphError) -> Void) async throws(GraphError) -> SendResult {
        // Nearly every row has no payload ("{}"): skip the parser for it.
        let payload: JSONValue = record.payload == "{}" ? [:] : ((try? JSONValue.parse(Data(record.payload.utf8))) ?? [:])
        let graph = self.graph
        let recipient = record.recipient
        switch (OutboundChannel(rawValue: record.channel) ?? .instagram, OutboundKind(rawValue: record.kind) ?? .manual) {
        case (.whatsapp, _):
            let text = record.text ?? ""
            do {
                return try await withGraphRetries(policy, onFailedAttempt: onFailure) { () async throws(GraphError) -> SendResult in
                    try await graph.sendWhatsApp(to: recipient, text: text)
                }
            } catch {
                // The manager's 24-hour window is closed: a template message may still be sent.
                guard error.isWhatsAppReengagement, let template = config.whatsappTemplate else { throw error }
                logger.notice("WhatsApp window closed; resending as template", metadata: ["template": "\(template)"])
                return try await withGraphRetries(policy, onFailedAttempt: onFailure) { () async throws(GraphError) -> SendResult in
                    try await graph.sendWhatsAppTemplate(to: recipient, template: template, bodyText: text)
                }
            }
        case (.instagram, .reaction):
            let mid = payload["mid"]?.stringValue ?? ""
            let reaction = payload["reaction"]?.stringValue
            return try await withGraphRetries(policy, onFailedAttempt: onFailure) { () async throws(GraphError) -> SendResult in
                try await graph.react(recipient: recipient, messageId: mid, reaction: reaction)
            }
        case (.instagram, _):
            let text = record.text ?? ""
            let tag = payload["human_agent_tag"]?.boolValue ?? false
            return try await withGraphRetries(policy, onFailedAttempt: onFailure) { () async throws(GraphError) -> SendResult in
                try await graph.sendText(recipient: recipient, text: text, humanAgentTag: tag)
            }
        }
    }
}

/// The outbox's only door to SQLite: batches "is this row still pending?" checks into one read and send results
/// into one transaction, on a serial dispatch queue of its own (never a cooperative-pool thread).
///
/// While the processor runs it hosts the results instead (`attach`): its loop records them in the same transaction
/// as its next tick, so the two never queue for SQLite's single writer against each other.
final class OutboxCommitter: Sendable {
    typealias Finish = (result: OutboundResult, continuation: CheckedContinuation<Void, Never>)

    private struct State {
        var checks: [(Int64, CheckedContinuation<(status: String, attempts: Int)?, Never>)] = []
        var finishes: [Finish] = []
        var scheduled = false
        var host: (@Sendable () -> Void)?
    }

    private let store: Store
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "dmdesk.outbox-commit")
    private let maxBatch = 1024

    init(store: Store, logger: Logger, publish: @escaping @Sendable ([JournalEvent]) -> Void) {
        self.store = store
        self.logger = logger
        self.publish = publish
    }

    /// The row's status and attempts; nil if there is no such row or it cannot be read.
    func check(_ id: Int64) async -> (status: String, attempts: Int)? {
        await withCheckedContinuation { c in
            let start = state.withLock { s -> Bool in
                s.checks.append((id, c))
                return schedule(&s)
            }
            if start { queue.async { self.run() } }
        }
    }

    /// Records the result; returns once it is committed and its events are published.
    func finish(_ result: OutboundResult) async {
        await withCheckedContinuation { c in
            let (start, wake) = state.withLock { s -> (Bool, (@Sendable () -> Void)?) in
                s.finishes.append((result, c))
                if let host = s.host { return (false, host) }
                return (schedule(&s), nil)
            }
            wake?()
            if start { queue.async { self.run() } }
        }
    }

    private func schedule(_ s: inout State) -> Bool {
        if s.scheduled { return false }
        s.scheduled = true
        return true
    }

    /// From now on `wake` is called when results wait, and the host records them (`takeFinishes`, `completed`).
    func attach(_ wake: @escaping @Sendable () -> Void) {
        let waiting = state.withLock { s -> Bool in
            s.host = wake
            return !s.finishes.isEmpty
        }
        if waiting { wake() }
    }

    /// The host is gone: results go back to the committer's own queue (those already waiting too).
    func detach() {
        let start = state.withLock { s -> Bool in
            s.host = nil
            return !s.finishes.isEmpty && schedule(&s)
        }
        if start { queue.async { self.run() } }
    }

    /// For the host: the results waiting to be recorded.
    func takeFinishes() -> [Finish] {
        state.withLock { s in
            defer { s.finishes = [] }
            return s.finishes
        }
    }

    /// For the host, after its commit (or its failure: every result failed): logs, publishes, wakes the senders.
    func completed(_ finishes: [Finish], _ results: [Result<OutboxChange, Error>]) {
        var events: [JournalEvent] = []
        for (finish, outcome) in zip(finishes, results) {
            switch outcome {
            case .success(let change): events += change.events
            case .failure(let error):
                let what = finish.result.status == .sent ? "could not record a sent message" : "could not record a failed send"
                logger.error("\(what)", metadata: ["outbound": "\(finish.result.id)", "error": "\(error)"])
            }
        }
        if !events.isEmpty { publish(events) }
        for finish in finishes { finish.continuation.resume() }
    }

    private func run() {
        while true {
            let (checks, finishes) = state.withLock { s -> ([(Int64, CheckedContinuation<(status: String, attempts: Int)?, Never>)], [Finish]) in
                let checks = Array(s.checks.prefix(maxBatch))
                s.checks.removeFirst(checks.count)
                var finishes: [Finish] = []
                if s.host == nil {
                    finishes = Array(s.finishes.prefix(maxBatch))
                    s.finishes.removeFirst(finishes.count)
                }
                if checks.isEmpty && finishes.isEmpty { s.scheduled = false }
                return (checks, finishes)
            }
            if checks.isEmpty && finishes.isEmpty { return }
            if !finishes.isEmpty { completed(finishes, store.finishOutbound(finishes.map(\.result))) }
            if !checks.isEmpty {
                let statuses: [Int64: (status: String, attempts: Int)]
                do {
                    statuses = try store.outboundStatuses(checks.map(\.0))
                } catch {
                    logger.error("could not read outbox rows", metadata: ["error": "\(error)"])
                    statuses = [:]
                }
                for (id, c) in checks { c.resume(returning: statuses[id]) }
            }
        }
    }
}

/// Meta answered code 190: sends will fail until someone fixes the token; /health and the console show it.
final class TokenState: Sendable {
    private let reason = Mutex<String?>(nil)
    let onChange: @Sendable () -> Void

    init(onChange: @escaping @Sendable () -> Void = {}) { self.onChange = onChange }

    var invalidReason: String? { reason.withLock { $0 } }

    func markInvalid(_ why: String) {
        let changed = reason.withLock { r -> Bool in
            defer { r = why }
            return r == nil
        }
        if changed { onChange() }
    }

    func clear() { reason.withLock { $0 = nil } }
}
