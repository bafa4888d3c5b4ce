import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// Sends outbox rows through the Graph API. Rows for one recipient go out strictly in order, one at a time;
/// different recipients are sent in parallel. Every attempt's result is written back before the next row.
public final class OutboxWorker: Sendable {
    private let store: Store
    private let graph: GraphClient
    private let config: DMDeskConfig
    private let policy: RetryPolicy
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let tokenState: TokenState
    private let queues = Mutex<[String: [Int64]]>([:])
    private let inFlight = Mutex<Set<Int64>>([])

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
    public func submit(_ record: OutboundRecord) {
        guard let id = record.id else { return }
        let key = record.channel + ":" + record.recipient
        let isNew = inFlight.withLock { $0.insert(id).inserted }
        guard isNew else { return }
        let startSender = queues.withLock { queues -> Bool in
            if queues[key] != nil {
                queues[key]!.append(id)
                return false
            }
            queues[key] = [id]
            return true
        }
        if startSender {
            Task.detached { await self.drain(key: key) }
        }
    }

    private func drain(key: String) async {
        while true {
            let next: Int64? = queues.withLock { queues in
                guard var list = queues[key], !list.isEmpty else {
                    queues[key] = nil
                    return nil
                }
                let id = list.removeFirst()
                queues[key] = list
                return id
            }
            guard let id = next else { return }
            await send(id: id)
            _ = inFlight.withLock { $0.remove(id) }
        }
    }

    private func send(id: Int64) async {
        guard let record = try? store.outbound(id: id), record.status == "pending" else { return }
        let attempts = Mutex(record.attempts)
        let onFailure: @Sendable (Int, GraphError) -> Void = { [logger] attempt, error in
            attempts.withLock { $0 += 1 }
            logger.warning("send attempt failed", metadata: ["outbound": "\(id)", "attempt": "\(attempt)", "error": "\(error)"])
        }
        do {
            let result = try await perform(record, onFailure: onFailure)
            let change = try store.finishOutbound(id: id, status: .sent, attempts: attempts.withLock { $0 } + 1, remoteId: result.messageId)
            publish(change.events)
        } catch let error as GraphError {
            if error.isTokenInvalid { tokenState.markInvalid("\(error)") }
            recordFailure("\(error)", id: id, attempts: attempts.withLock { $0 })
        } catch {
            recordFailure("\(error)", id: id, attempts: attempts.withLock { $0 })
        }
    }

    private func recordFailure(_ reason: String, id: Int64, attempts: Int) {
        logger.error("send failed", metadata: ["outbound": "\(id)", "reason": "\(reason)"])
        do {
            publish(try store.finishOutbound(id: id, status: .failed, attempts: max(attempts, 1), error: reason).events)
        } catch {
            logger.error("could not record a failed send", metadata: ["outbound": "\(id)", "error": "\(error)"])
        }
    }

    private func perform(_ record: OutboundRecord, onFailure: @escaping @Sendable (Int, GraphError) -> Void) async throws(GraphError) -> SendResult {
        let payload = (try? JSONValue.parse(Data(record.payload.utf8))) ?? [:]
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
