import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// Sends outbox rows through the Graph API. Rows for one recipient go out strictly in order, one at a time;
/// different recipients are sent in parallel. Every attempt's result is written back before the next row.
///
/// At most once where it can be known, at least once where it cannot (Meta's Send API has no idempotency key):
/// a row is committed `sending`, with the time, before its call — by the processor in the transaction that
/// creates it, else by the committer (`pending` → `sending`, which is also the "still pending?" check). Meta's echo
/// of the message proves it sent even before the answer is recorded (the store matches it on ingest), and a
/// result that cannot be recorded is kept and retried, never sent again by this daemon. A row found `sending` at
/// start-up is in doubt: it and every later row of its recipient wait until it is reconciled — proven sent by
/// its echo or by the Conversations API, or, with no proof after `DMDESK_SEND_RECONCILE_SECONDS`, sent again.
///
/// The senders never touch the store themselves: marks, checks and results go to one committer (one task at a
/// time, or the processor's loop while it runs), which takes everything that queued up while it was busy and
/// handles it at once (group commit), then publishes the events in commit order and wakes the senders.
public final class OutboxWorker: Sendable {
    /// How a queued row reached the worker.
    enum Admission: Sendable {
        /// Pending in the store: marked `sending` (committed) before its call, or not sent if it is not pending.
        case mark
        /// Committed `sending` by its creator just now and handed to nobody else: sent at once.
        case inFlight
        /// The same, but it waited behind another row of its recipient: sent only if still `sending` (an echo of
        /// an identical text typed meanwhile in the Instagram app may have accounted for it).
        case inFlightQueued
    }

    enum Item: Sendable {
        case send(OutboundRecord, Admission)
        /// Rows of one recipient left `sending` by a previous run, oldest first.
        case reconcile([OutboundRecord])
    }

    private let store: any InboxStore
    private let graph: GraphClient
    private let config: DMDeskConfig
    private let policy: RetryPolicy
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let tokenState: TokenState
    private let metrics: DaemonMetrics
    private let queues = Mutex<[String: [Item]]>([:])
    /// Rows queued, being sent, or sent with their result not yet recorded: never submitted again meanwhile.
    private let inFlight = Mutex<Set<Int64>>([])
    private let stopped = Atomic<Bool>(false)
    /// One sender per recipient with rows queued: kept so that shutdown can await them before the store closes.
    private let senders = TrackedTasks()
    private let counters = Mutex(Counts())
    let committer: OutboxCommitter
    /// Typing indicators and seen receipts: not rows, but a reply waits briefly for its recipient's.
    public let senderActions: SenderActions

    public struct Counts: Sendable, CustomStringConvertible {
        /// Writes of a result tried again because the first failed (a full disk).
        public var recordRetries = 0
        /// Rows left `sending` by a previous run: proven sent, or sent again without proof.
        public var provenAfterRestart = 0
        public var resentAfterRestart = 0
        public var description: String {
            "recordRetries \(recordRetries), provenAfterRestart \(provenAfterRestart), resentAfterRestart \(resentAfterRestart)"
        }
    }

    /// For tests and the logs.
    public var counts: Counts { counters.withLock { $0 } }

    /// Senders running now (none once `shutdown` has returned).
    public var sendersRunning: Int { senders.count }

    /// A result that cannot be recorded is retried this long (then the row stays `sending`, for the next start).
    static let recordRetryWindow: Duration = .seconds(600)
    /// Pauses between retries of a write that failed (a full disk): from the first to the last, doubling.
    static let writeRetryFirst: Duration = .milliseconds(250)
    static let writeRetryMax: Duration = .seconds(15)
    /// How often an in-doubt row is looked at again while its echo may still come.
    static let reconcilePoll: Duration = .milliseconds(200)

    init(
        store: any InboxStore, graph: GraphClient, config: DMDeskConfig, policy: RetryPolicy, tokenState: TokenState,
        metrics: DaemonMetrics = DaemonMetrics(enabled: false), logger: Logger, publish: @escaping @Sendable ([JournalEvent]) -> Void
    ) {
        self.metrics = metrics
        self.store = store
        self.graph = graph
        self.config = config
        self.policy = policy
        self.tokenState = tokenState
        self.logger = logger
        self.publish = publish
        self.committer = OutboxCommitter(store: store, logger: logger, publish: publish)
        self.senderActions = SenderActions(graph: graph, enabled: config.accessToken != nil, logger: logger)
    }

    /// Start-up: rows left `sending` by a previous run are reconciled first (their recipients' later rows wait
    /// behind them); rows left pending are sent, in id order.
    public func resumePending() async {
        do {
            let inDoubt = try await store.inDoubtOutbound()
            var byKey: [String: [OutboundRecord]] = [:]
            var order: [String] = []
            for record in inDoubt {
                let key = Self.key(record)
                if byKey[key] == nil { order.append(key) }
                byKey[key, default: []].append(record)
            }
            if !inDoubt.isEmpty {
                logger.notice(
                    "replies in flight when the daemon stopped: reconciling before any resend",
                    metadata: ["rows": "\(inDoubt.count)", "recipients": "\(order.count)", "wait_s": "\(config.sendReconcileSeconds)"])
            }
            for key in order { enqueue(.reconcile(byKey[key]!), ids: byKey[key]!.compactMap(\.id), key: key) }
            for record in try await store.pendingOutbound() { submit(record) }
        } catch {
            logger.error("could not read pending outbox rows", metadata: ["error": "\(error)"])
        }
    }

    /// Shutdown: no new sends, no more waiting and retrying. Sends under way get `grace` to finish (their result is
    /// recorded); any still running then is cancelled and awaited, its row left `sending` — in doubt, reconciled at
    /// the next start. After this returns no sender touches the Graph API or the store.
    func shutdown(grace: Duration) async {
        stopped.store(true, ordering: .relaxed)
        async let actionsStopped: Void = senderActions.shutdown(grace: grace)
        let cancelled = await senders.shutdown(grace: grace)
        await actionsStopped
        if cancelled > 0 {
            logger.notice("sends interrupted by the shutdown: in doubt until the next start", metadata: ["senders": "\(cancelled)"])
        }
    }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Queues a row; starts a sender for its recipient if none is running.
    ///
    /// `fresh`: the caller committed this row as `sending` just now and hands it to nobody else (the processor's
    /// replies, the agent's actions), so the sender need not mark it. Any other row — resumed at start-up, retried,
    /// or possibly submitted twice — is marked `sending` only if it is still pending, so none is ever sent twice.
    public func submit(_ record: OutboundRecord, fresh: Bool = false) {
        guard let id = record.id else { return }
        enqueue(nil, ids: [id], key: Self.key(record)) { startsSender in
            .send(record, fresh ? (startsSender ? .inFlight : .inFlightQueued) : .mark)
        }
    }

    private static func key(_ record: OutboundRecord) -> String { record.channel.rawValue + ":" + record.recipient }

    private func enqueue(_ item: Item?, ids: [Int64], key: String, make: ((Bool) -> Item)? = nil) {
        let isNew = inFlight.withLock { set in
            guard ids.allSatisfy({ !set.contains($0) }) else { return false }
            set.formUnion(ids)
            return true
        }
        guard isNew else { return }
        let startSender = queues.withLock { queues -> Bool in
            let starts = queues[key] == nil
            let queued = item ?? make!(starts)
            if starts { queues[key] = [queued] } else { queues[key]!.append(queued) }
            return starts
        }
        if startSender && !senders.start({ await self.drain(key: key) }) {
            // Shutting down: the rows stay in the store (pending, or `sending` and in doubt) for the next start.
            queues.withLock { _ = $0.removeValue(forKey: key) }
        }
    }

    private func drain(key: String) async {
        while true {
            let next: Item? = queues.withLock { queues in
                // After a shutdown began the rows left stay in the store for the next start.
                guard !isStopped, var list = queues[key], !list.isEmpty else {
                    queues[key] = nil
                    return nil
                }
                let item = list.removeFirst()
                queues[key] = list
                return item
            }
            guard let next else { return }
            switch next {
            case .send(let record, let admission):
                guard let id = record.id else { continue }
                await send(record, id: id, admission: admission)
                _ = inFlight.withLock { $0.remove(id) }
            case .reconcile(let rows):
                let again = await reconcile(rows)
                for record in again where !isStopped {
                    guard let id = record.id else { continue }
                    await send(record, id: id, admission: .inFlight)
                }
                inFlight.withLock { set in for row in rows { if let id = row.id { set.remove(id) } } }
            }
        }
    }

    private func send(_ submitted: OutboundRecord, id: Int64, admission: Admission) async {
        var record = submitted
        switch admission {
        case .mark:
            guard let marked = await markSending(id) else { return }
            record = marked
        case .inFlight:
            guard record.status == .sending else { return }
        case .inFlightQueued:
            // Unreadable: sent all the same (it was committed in flight just now).
            if let current = await committer.check(id) {
                guard current.status == .sending else { return }
                record.attempts = current.attempts
            }
        }
        let attempts = Mutex(record.attempts)
        let onFailure: @Sendable (Int, GraphError) -> Void = { [logger] attempt, error in
            attempts.withLock { $0 += 1 }
            logger.warning("send attempt failed", metadata: ["outbound": "\(id)", "attempt": "\(attempt)", "error": "\(error)"])
        }
        // Before trying again after a failed attempt: an attempt that failed on our side (a timeout, a lost
        // answer) may have reached Meta, whose echo then proved the row sent. Then it is not sent again.
        let tries = Mutex(0)
        let proven = Mutex(false)
        let committer = self.committer
        let beforeAttempt: @Sendable () async -> Bool = {
            let n = tries.withLock { t -> Int in
                t += 1
                return t
            }
            guard n > 1 else { return true }
            if let current = await committer.check(id), current.status == .sent {
                proven.withLock { $0 = true }
                return false
            }
            return true
        }
        // A typing indicator under way for this customer goes first (briefly; a failed one does not hold it up).
        if record.channel == .instagram { await senderActions.settle(record.recipient) }
        let result: Result<SendResult, GraphError>
        do {
            result = .success(try await perform(record, beforeAttempt: beforeAttempt, onFailure: onFailure))
        } catch {
            result = .failure(error)
        }
        if Task.isCancelled, case .failure = result {
            // The shutdown's grace ran out during the call: whether Meta has it is unknown. The row stays `sending`.
            logger.notice("send interrupted by the shutdown; the row stays in flight", metadata: ["outbound": "\(id)"])
            return
        }
        if proven.withLock({ $0 }) {
            logger.notice("not sending again: the row's echo proved an earlier attempt sent", metadata: ["outbound": "\(id)"])
            return
        }
        metrics.send(channel: record.channel.rawValue, error: result.failure)
        switch result {
        case .success(let sent):
            if record.channel == .instagram { tokenState.clear() }
            await recordResult(OutboundResult(id: id, status: .sent, attempts: attempts.withLock { $0 } + 1, remoteId: sent.messageId))
        case .failure(let error):
            // WhatsApp has a token of its own: only Instagram's 190 says the Instagram token is bad.
            if error.isTokenInvalid && record.channel == .instagram { tokenState.markInvalid("\(error)") }
            logger.error("send failed", metadata: ["outbound": "\(id)", "reason": "\(error)"])
            await recordResult(OutboundResult(id: id, status: .failed, attempts: max(attempts.withLock { $0 }, 1), error: "\(error)"))
        }
    }

    /// `pending` → `sending`, committed, before the call; nil when the row is not pending (do not send it). A write
    /// that fails (a full disk) is retried with backoff for as long as the daemon runs: the row is not sent meanwhile,
    /// and its recipient's later rows wait behind it.
    private func markSending(_ id: Int64) async -> OutboundRecord? {
        var pause = Self.writeRetryFirst
        while true {
            switch await committer.mark(id) {
            case .success(.marked(let record)): return record
            case .success(.notPending): return nil
            case .failure(let error):
                if error is StoreError || isStopped {
                    logger.error("could not mark an outbox row in flight; not sending it now", metadata: ["outbound": "\(id)", "error": "\(error)"])
                    return nil
                }
                logger.warning("could not mark an outbox row in flight; trying again", metadata: ["outbound": "\(id)", "error": "\(error)"])
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, Self.writeRetryMax)
            }
        }
    }

    /// Records a result. One that cannot be written (a full disk) is kept and written again, with backoff, for
    /// `recordRetryWindow`: the row stays `sending` meanwhile and is never queued again by this daemon (after a
    /// restart it is in doubt, and reconciled). Its recipient's later rows wait, so they stay in order.
    private func recordResult(_ result: OutboundResult) async {
        let what = result.status == .sent ? "a sent message" : "a failed send"
        let giveUp = ContinuousClock.now + Self.recordRetryWindow
        var pause = Self.writeRetryFirst
        var tries = 0
        while true {
            tries += 1
            guard case .failure(let error) = await committer.finish(result) else {
                if tries > 1 { logger.notice("recorded \(what) after \(tries) tries", metadata: ["outbound": "\(result.id)"]) }
                return
            }
            if error is StoreError || isStopped || ContinuousClock.now >= giveUp {
                logger.error(
                    "could not record \(what); giving up (the row stays in flight and is reconciled at the next start)",
                    metadata: ["outbound": "\(result.id)", "error": "\(error)"])
                return
            }
            logger.warning("could not record \(what); keeping the result and trying again", metadata: ["outbound": "\(result.id)", "error": "\(error)"])
            counters.withLock { $0.recordRetries += 1 }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, Self.writeRetryMax)
        }
    }

    // MARK: - Reconciliation of rows in doubt

    /// Rows of one recipient left `sending` by a previous run. Each is proven sent by its echo (matched when it is
    /// ingested) or by the Conversations API (a business message with the same text, created at or after its
    /// sending time); the rest come back, in order, to be sent again once `DMDESK_SEND_RECONCILE_SECONDS` passed
    /// without proof. Reactions and WhatsApp messages have no echo to wait for: they are sent again at once (a
    /// reaction is idempotent; a manager notification may arrive twice).
    private func reconcile(_ rows: [OutboundRecord]) async -> [OutboundRecord] {
        var open = rows.filter(Self.isProvable)
        let immediate = rows.filter { !Self.isProvable($0) }
        let deadline = ContinuousClock.now + .seconds(config.sendReconcileSeconds)
        if !open.isEmpty { open = await proveByConversations(open) }
        while !open.isEmpty && ContinuousClock.now < deadline && !isStopped {
            try? await Task.sleep(for: min(Self.reconcilePoll, deadline - ContinuousClock.now))
            open = await stillInDoubt(open)
        }
        // Shutting down: the rows stay `sending`, in doubt, for the next start.
        if isStopped { return [] }
        if !open.isEmpty {
            open = await stillInDoubt(open)
            if !open.isEmpty { open = await proveByConversations(open) }
        }
        for row in rows where !open.contains(where: { $0.id == row.id }) && Self.isProvable(row) {
            logger.notice("a reply in doubt was proven sent; not sending it again", metadata: ["outbound": "\(row.id ?? 0)"])
            counters.withLock { $0.provenAfterRestart += 1 }
        }
        let again = (open + immediate).sorted { ($0.id ?? 0) < ($1.id ?? 0) }
        var renewed: [OutboundRecord] = []
        for row in again {
            guard let id = row.id else { continue }
            logger.notice("no proof that a reply in doubt was sent; sending it again", metadata: ["outbound": "\(id)"])
            if let fresh = await renewSending(id) {
                renewed.append(fresh)
                counters.withLock { $0.resentAfterRestart += 1 }
            }
        }
        return renewed
    }

    private static func isProvable(_ row: OutboundRecord) -> Bool {
        // A public reply has no echo; a private reply's echo names the commenter (matched by its thread on ingest),
        // but the Conversations API is asked by recipient, here a comment id: it waits for the echo only.
        row.channel == .instagram && row.kind != .reaction && row.kind != .commentReply && !(row.text ?? "").isEmpty
    }

    /// The rows still `sending` (an echo may have proven the others meanwhile).
    private func stillInDoubt(_ rows: [OutboundRecord]) async -> [OutboundRecord] {
        var out: [OutboundRecord] = []
        for row in rows {
            guard let id = row.id else { continue }
            // Unreadable: still in doubt.
            if let current = await committer.check(id), current.status != .sending { continue }
            out.append(row)
        }
        return out
    }

    /// Asks Meta's Conversations API: each row with a matching business message is proven sent (oldest row first,
    /// each message used once, none already accounted for). Returns the rows still in doubt.
    private func proveByConversations(_ rows: [OutboundRecord]) async -> [OutboundRecord] {
        guard let first = rows.first else { return rows }
        // A private reply is addressed to a comment; its conversation is the commenter's (the row's thread).
        let recipient = first.kind == .privateReply ? (first.thread_id ?? first.recipient) : first.recipient
        let messages: [JSONValue]
        do {
            messages = try await graph.conversationMessages(igsid: recipient, limit: 50)
        } catch {
            logger.warning("could not ask the Conversations API about replies in doubt", metadata: ["error": "\(error)"])
            return rows
        }
        struct Candidate { var id: String; var text: String; var at: EpochMillis }
        var candidates: [Candidate] = messages.compactMap { m in
            guard let id = m["id"]?.idString, let text = m["message"]?.stringValue,
                m["from"]?["id"]?.idString != recipient, let time = m["created_time"]?.stringValue,
                let at = Self.parseMetaTime(time)
            else { return nil }
            return Candidate(id: id, text: text, at: at)
        }
        let ids = candidates.map(\.id)
        let known = (try? await store.knownMessageIds(ids)) ?? []
        candidates = candidates.filter { !known.contains($0.id) }.sorted { $0.at < $1.at }
        var open: [OutboundRecord] = []
        for row in rows {
            // Meta's created_time has whole seconds: up to a second early, besides the clocks' skew.
            let earliest = (row.sending_at ?? row.created_at) - StorePolicy.echoClockSkewMillis - 1000
            guard let id = row.id,
                let index = candidates.firstIndex(where: { $0.text == row.text && $0.at >= earliest })
            else {
                open.append(row)
                continue
            }
            let proof = candidates.remove(at: index)
            let change: Result<OutboxChange?, any Error>
            do { change = .success(try await store.provenSent(id: id, remoteId: proof.id)) } catch { change = .failure(error) }
            switch change {
            case .success(let change?):
                if !change.events.isEmpty { publish(change.events) }
            case .success(nil):
                break  // no longer in doubt: its echo came meanwhile
            case .failure(let error):
                logger.warning("could not record a reply proven sent", metadata: ["outbound": "\(id)", "error": "\(error)"])
                open.append(row)
            }
        }
        return open
    }

    /// A row about to be sent again: still `sending`, with its sending time now. Retried while a write fails.
    private func renewSending(_ id: Int64) async -> OutboundRecord? {
        var pause = Self.writeRetryFirst
        while true {
            let outcome: Result<OutboundRecord?, any Error>
            do { outcome = .success(try await store.renewSending(id)) } catch { outcome = .failure(error) }
            switch outcome {
            case .success(let record): return record
            case .failure(let error):
                if isStopped { return nil }
                logger.warning("could not mark a reply in doubt for sending again; trying again", metadata: ["outbound": "\(id)", "error": "\(error)"])
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, Self.writeRetryMax)
            }
        }
    }

    /// Meta's `created_time` ("2024-11-21T12:00:03+0000"; ISO 8601 with "Z" or "+00:00" accepted too), in ms.
    static func parseMetaTime(_ text: String) -> EpochMillis? {
        if let date = ISO8601DateFormatter().date(from: text) { return EpochMillis(date.timeIntervalSince1970 * 1000) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        return formatter.date(from: text).map { EpochMillis($0.timeIntervalSince1970 * 1000) }
    }

    // MARK: - The call

    private func perform(
        _ record: OutboundRecord, beforeAttempt: @escaping @Sendable () async -> Bool,
        onFailure: @escaping @Sendable (Int, GraphError) -> Void
    ) async throws(GraphError) -> SendResult {
        // Nearly every row has no payload ("{}"): skip the parser for it.
        let payload: JSONValue = record.payload == "{}" ? [:] : ((try? JSONValue.parse(Data(record.payload.utf8))) ?? [:])
        let graph = self.graph
        let recipient = record.recipient
        // An attempt skipped because the row was proven sent meanwhile: the caller sees `proven` and records nothing.
        let skipped = SendResult(recipientId: recipient, messageId: nil)
        switch (record.channel, record.kind) {
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
        case (.instagram, .privateReply), (.instagram, .commentReply):
            // The recipient is the comment id; the limits (one private reply, 7 days) were checked when queued.
            let text = record.text ?? ""
            let privately = record.kind == .privateReply
            return try await withGraphRetries(policy, onFailedAttempt: onFailure) { () async throws(GraphError) -> SendResult in
                guard await beforeAttempt() else { return skipped }
                return privately
                    ? try await graph.sendPrivateReply(commentId: recipient, text: text)
                    : try await graph.replyToComment(commentId: recipient, text: text)
            }
        case (.instagram, _):
            let text = record.text ?? ""
            let attachment = record.attachment
            let tag = try await humanAgentTag(for: record, queuedWithTag: payload["human_agent_tag"]?.boolValue ?? false)
            return try await withGraphRetries(policy, onFailedAttempt: onFailure) { () async throws(GraphError) -> SendResult in
                guard await beforeAttempt() else { return skipped }
                if let attachment {
                    return try await graph.sendAttachment(recipient: recipient, attachment: attachment, humanAgentTag: tag)
                }
                return try await graph.sendText(recipient: recipient, text: text, humanAgentTag: tag)
            }
        }
    }

    /// Whether this row goes out with the HUMAN_AGENT tag, decided now rather than when it was queued (a reply
    /// queued inside the 24-hour window may be sent, or retried, after it closed): only an operator's own message,
    /// only with `DMDESK_HUMAN_AGENT_TAG=true`, only once the window has closed and within 7 days of the customer's
    /// last message. A person's message neither allows is refused here, before Meta is called; the bot's, the
    /// agent's and acknowledgements are never tagged (Meta answers those itself if the window has closed).
    private func humanAgentTag(for record: OutboundRecord, queuedWithTag: Bool) async throws(GraphError) -> Bool {
        guard record.author == .operator, record.kind == .manual else { return false }
        let policy = SendWindowPolicy(humanAgentTag: config.humanAgentTag)
        let lastInboundAt: EpochMillis?
        do {
            lastInboundAt = try await store.thread(record.recipient)?.lastInboundAt
        } catch {
            // Unreadable now: the decision made when the row was queued stands.
            logger.warning("could not read the thread's window; using the decision made when queuing", metadata: ["outbound": "\(record.id ?? 0)"])
            return config.humanAgentTag && queuedWithTag
        }
        switch policy.check(lastInboundAt: lastInboundAt, author: .operator) {
        case .standard: return false
        case .humanAgentTag: return true
        case .refused:
            throw GraphError(kind: .outsideWindow(policy.refusal(lastInboundAt: lastInboundAt) ?? "outside the messaging window"))
        }
    }

    // MARK: - Idle (the wait is in OutboxWorker+Idle.swift)

    /// What the worker has to do. A row enters `inFlight` before its queue and leaves it only once its result is
    /// recorded (its queue goes after), so with both empty no sender runs and nothing waits.
    public var idleState: IdleState {
        let rows = inFlight.withLock { $0.count }
        let recipients = queues.withLock { $0.count }
        return IdleState(recipients: recipients, rows: rows)
    }
}
