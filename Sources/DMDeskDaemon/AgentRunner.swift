import DMDeskAgent
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// Answers the batches the processor hands off (`DMDESK_RESPONDER=agent`): several threads at a time, one batch per
/// thread at a time. Each batch's messages stay `processing` until its run ends; then they are completed — or, when
/// the endpoint failed before the agent acted, answered by the rules responder instead.
final class AgentRunner: Sendable {
    struct Job: Sendable {
        var batch: ClaimedBatch
        var rules: RuleSet
    }

    private struct State {
        var queue: [Job] = []
        /// Threads with a run in flight, and the runs' tasks (for cancelling).
        var active: Set<String> = []
        var tasks: [String: Task<Void, Never>] = [:]
        var stopped = false
    }

    typealias Finished = @Sendable (_ thread: String, _ again: Bool) -> Void

    private let store: any InboxStore
    private let redis: RedisContextStore
    private let graph: GraphClient
    private let fanOut: FanOut
    private let responder: Responder
    private let metrics: DaemonMetrics
    private let loop: AgentLoop
    private let prompt: String
    private let logger: Logger
    private let state = Mutex(State())
    /// Called when a thread's run is over; `again`: some of its messages went back to `pending`.
    private let onFinished: Finished
    /// Threads answered at once (`DMDESK_LLM_CONCURRENCY`); the others wait their turn in order.
    private let maxConcurrent: Int

    init(
        store: any InboxStore, redis: RedisContextStore, graph: GraphClient, fanOut: FanOut, config: DMDeskConfig,
        logger: Logger, responder: Responder, prompt: String, metrics: DaemonMetrics = DaemonMetrics(enabled: false),
        onFinished: @escaping Finished
    ) {
        self.metrics = metrics
        self.store = store
        self.redis = redis
        self.graph = graph
        self.fanOut = fanOut
        self.responder = responder
        self.prompt = prompt
        self.logger = logger
        self.onFinished = onFinished
        maxConcurrent = max(1, config.llmConcurrency)
        loop = AgentLoop(
            client: ChatClient(
                endpoint: ChatEndpoint(
                    baseURL: config.llmBaseURL ?? "", model: config.llmModel ?? "", apiKey: config.llmAPIKey,
                    timeoutMs: config.llmTimeoutMs)),
            maxToolCalls: config.llmMaxToolCalls)
    }

    /// Queues the batch; the processor never hands over a thread whose previous batch is still running.
    func start(_ batch: ClaimedBatch, rules: RuleSet) {
        let accepted = state.withLock { s -> Bool in
            guard !s.stopped else { return false }
            s.queue.append(Job(batch: batch, rules: rules))
            return true
        }
        if accepted { startQueued() }
    }

    /// Cancels the runs in flight and waits (a few seconds at most) for them to let go of the store. Their
    /// messages stay `processing`, so the next start returns them to `pending` and answers them then.
    func stop() async {
        let tasks = state.withLock { s -> [Task<Void, Never>] in
            s.stopped = true
            s.queue.removeAll()
            return Array(s.tasks.values)
        }
        for task in tasks { task.cancel() }
        if !(await poll(within: .seconds(5)) { state.withLock { $0.active.isEmpty } }) {
            logger.warning("agent runs did not stop within 5 s")
        }
    }

    private func startQueued() {
        while true {
            let job: Job? = state.withLock { s in
                guard !s.stopped, s.active.count < maxConcurrent, !s.queue.isEmpty else { return nil }
                let job = s.queue.removeFirst()
                s.active.insert(job.batch.thread)
                return job
            }
            guard let job else { return }
            let thread = job.batch.thread
            let task = Task { [self] in
                let again = await self.run(job)
                let cancelled = Task.isCancelled
                self.state.withLock {
                    $0.active.remove(thread)
                    $0.tasks[thread] = nil
                }
                if !cancelled { self.onFinished(thread, again) }
                self.startQueued()
            }
            // A run that already ended is not active any more: do not keep its task.
            state.withLock { s in
                if s.active.contains(thread) { s.tasks[thread] = task }
                if s.stopped { task.cancel() }
            }
        }
    }

    /// Returns true when some of the batch's messages went back to `pending` for a batch of their own.
    private func run(_ job: Job) async -> Bool {
        var batch = job.batch
        var again = false
        // A run cut short by a stop or crash may already have answered: never answer those messages twice.
        if let answered = try? await store.agentAnsweredMessages(thread: batch.thread, batch: batch.mids.first ?? "") {
            let answeredIDs = Set(answered)
            let later = batch.messages.filter { !answeredIDs.contains($0.mid) }
            if !later.isEmpty {
                _ = try? await store.releaseToPending(mids: later.map(\.mid))
                again = true
            }
            batch.messages.removeAll { !answeredIDs.contains($0.mid) }
            let done = batch.messages
            await DaemonAgentEnvironment(store: store, graph: graph, fanOut: fanOut, logger: logger, responder: responder, batch: batch).record(
                AgentStepDraft(kind: .stopped, result: "already answered before the daemon restarted; not answering again"))
            if !done.isEmpty {
                await complete(BatchPlan(thread: batch.thread, mids: batch.mids, plannedMode: .auto, reason: "agent: answered before a restart"), batch: batch)
            }
            return again
        }
        let env = DaemonAgentEnvironment(
            store: store, graph: graph, fanOut: fanOut, logger: logger, responder: responder, batch: batch, metrics: metrics)
        let started = ContinuousClock.now
        let outcome = await loop.run(await input(for: batch), in: env)
        // Stopping: leave the batch `processing`; the next start looks at it again.
        if Task.isCancelled { return false }
        var plan: BatchPlan
        switch outcome {
        case .fallback(let why):
            metrics.agentRequest(ok: false, promptTokens: nil, completionTokens: nil)
            logger.warning("agent endpoint failed; the rules answered", metadata: ["thread": "\(batch.thread)", "error": "\(why)"])
            plan = responder.plan(batch, rules: job.rules)
            plan.reason = "agent fallback (\(plan.reason))"
        default:
            plan = BatchPlan(thread: batch.thread, mids: batch.mids, plannedMode: .auto, reason: "agent: \(outcome)")
        }
        logger.debug(
            "agent answered a batch",
            metadata: ["thread": "\(batch.thread)", "outcome": "\(outcome)", "ms": "\(started.duration(to: .now))"])
        await complete(plan, batch: batch)
        return again
    }

    /// Marks the batch answered (queuing the fallback's replies, if any), as the processor does for its own plans.
    private func complete(_ plan: BatchPlan, batch: ClaimedBatch) async {
        switch await store.completeBatches([plan])[0] {
        case .success(let done):
            await fanOut.dispatch(done)
        case .failure(let error):
            logger.error("could not complete an agent batch", metadata: ["thread": "\(batch.thread)", "error": "\(error)"])
            if let failure = try? await store.failBatch(thread: batch.thread, mids: batch.mids, error: "\(error)") {
                fanOut.publish(failure.events)
            }
        }
    }

    /// The system prompt, the thread's rolling context (Redis; the store when Redis is down) and the new messages.
    func input(for batch: ClaimedBatch) async -> AgentInput {
        var context: [AgentInput.Turn]
        if redis.state.up, let turns = try? await redis.turnsAsync(customer: batch.thread) {
            context = turns.map { AgentInput.Turn(fromCustomer: $0.role == .user, text: $0.text) }
        } else {
            let history = (try? await store.history(thread: batch.thread, limit: RedisContextStore.maxTurns)) ?? []
            context = history.compactMap { m in
                guard let text = m.text, !text.isEmpty, m.author != .system, m.delivery != .failed else { return nil }
                return AgentInput.Turn(fromCustomer: m.direction == .inbound, text: text)
            }
        }
        let fresh = batch.messages.map { m in
            AgentInput.NewMessage(
                id: m.mid,
                text: m.text.flatMap { $0.isEmpty ? nil : $0 } ?? m.payload.map { "(tapped a button: \($0))" }
                    ?? (m.hasAttachments ? "(sent an attachment)" : "(an empty message)"))
        }
        return AgentInput(systemPrompt: prompt, customerName: batch.displayName, context: context, newMessages: fresh)
    }
}

/// The agent's tools, carried out against the daemon: every action is a plan applied by `completeBatches`, which
/// re-reads the thread's mode in the same transaction — a thread taken over meanwhile gets nothing.
struct DaemonAgentEnvironment: AgentEnvironment {
    let store: any InboxStore
    let graph: GraphClient
    let fanOut: FanOut
    let logger: Logger
    let responder: Responder
    let batch: ClaimedBatch
    var metrics: DaemonMetrics? = nil
    var thread: String { batch.thread }

    func stopReason() async -> String? {
        if Task.isCancelled { return "the daemon is stopping" }
        guard let summary = try? await store.thread(thread) else { return nil }
        return summary.mode == .human ? "an operator took the thread over" : nil
    }

    func record(_ step: AgentStepDraft) async {
        guard !Task.isCancelled else { return }
        var step = step
        if step.promptTokens != nil || step.completionTokens != nil {
            metrics?.agentRequest(ok: step.ok, promptTokens: step.promptTokens, completionTokens: step.completionTokens)
        }
        // A request step keeps the ids it answers: after a restart they are not answered twice.
        if step.kind == .request && step.arguments == nil {
            step.arguments = JSONValue.array(batch.mids.map { .string($0) }).compactString
        }
        do {
            let (_, event) = try await store.recordAgentStep(step, thread: thread, batch: batch.mids.first ?? thread)
            fanOut.publish([event])
        } catch {
            logger.error("could not record an agent step", metadata: ["thread": "\(thread)", "error": "\(error)"])
        }
    }

    func perform(_ action: AgentAction) async -> ToolOutcome {
        guard !Task.isCancelled else { return ToolOutcome(result: "error: the daemon is stopping", ok: false, ends: true) }
        do {
            switch action {
            case .sendMessage(let text):
                let lastInbound = try await store.thread(thread)?.lastInboundAt
                guard SendWindowPolicy(humanAgentTag: false).check(lastInboundAt: lastInbound) != .refused else {
                    return .refused("the customer last wrote over 24 hours ago; Instagram does not allow a reply")
                }
                return try await act(
                    [OutboundDraft(thread: thread, recipient: thread, kind: .autoReply, text: text, author: .bot)], done: "sent")
            case .react(let messageId, let reaction):
                guard let message = try await store.message(mid: messageId), message.thread_id == thread else {
                    return .refused("there is no message \(messageId) in this conversation")
                }
                let target = message.remote_mid ?? message.mid
                guard message.direction == .inbound, !target.hasPrefix("out:") else {
                    return .refused("you can only react to the customer's messages")
                }
                return try await act(
                    [OutboundDraft(
                        thread: thread, recipient: thread, kind: .reaction, text: reaction,
                        payload: ["mid": .string(target), "reaction": .string(reaction)], author: .bot)],
                    done: "reacted")
            case .getThreadMessages(let limit):
                return await olderMessages(limit: limit)
            case .notifyManager(let text):
                guard let manager = responder.managerNumber else {
                    return .refused("manager notifications are not configured (MANAGER_WHATSAPP_NUMBER, WHATSAPP_PHONE_NUMBER_ID)")
                }
                return try await act(
                    [OutboundDraft(
                        thread: thread, recipient: manager, kind: .managerNotification, channel: .whatsapp,
                        text: "dmdesk: about \(batch.displayName) (\(thread)) on Instagram: \(text)", author: .system)],
                    done: "the manager was notified")
            case .handover(let reason):
                let drafts = responder.handoverDrafts(
                    thread: thread,
                    managerText: "dmdesk: \(batch.displayName) (\(thread)) needs a person on Instagram: \(reason)")
                var outcome = try await act(drafts, handover: true, done: "handed over to a person; the bot stops here")
                outcome.ends = true
                return outcome
            }
        } catch {
            return .refused("\(error)")
        }
    }

    /// Queues `drafts` (and the handover) unless an operator has the thread; then hands the rows to the outbox.
    private func act(_ drafts: [OutboundDraft], handover: Bool = false, done: String) async throws -> ToolOutcome {
        let plan = BatchPlan(
            thread: thread, mids: [], plannedMode: .auto, drafts: drafts, handover: handover, awaitOperator: handover,
            reason: "agent")
        let completion = try await store.completeBatches([plan])[0].get()
        // A suppressed plan queued nothing; its events (the thread now awaiting a person) still go out.
        await fanOut.dispatch(completion)
        if completion.suppressed {
            return ToolOutcome(result: "error: not done, an operator took the thread over", ok: false, ends: true)
        }
        let ids = completion.records.compactMap(\.id).map { "#\($0)" }.joined(separator: ", ")
        return ToolOutcome(result: ids.isEmpty ? done : "\(done) (outbox \(ids))", acted: true)
    }

    /// Older messages than the batch: from the store, or from Meta's Conversations API when the store has none.
    private func olderMessages(limit: Int) async -> ToolOutcome {
        let before = batch.messages.map(\.timestamp).min()
        let stored = ((try? await store.history(thread: thread, before: before, limit: limit)) ?? []).filter { $0.author != .system }
        if !stored.isEmpty {
            let items: [JSONValue] = stored.map { m in
                [
                    "id": .string(m.mid ?? m.id), "from": .string(m.direction == .inbound ? "customer" : "business"),
                    "text": .string(m.text ?? (m.attachments.isEmpty ? "" : "(attachment)")),
                    "time": .string(InternalRoutes.iso(m.timestamp)),
                ]
            }
            return ToolOutcome(result: JSONValue.array(items).compactString)
        }
        do {
            let remote = try await graph.conversationMessages(igsid: thread, limit: limit)
            let items: [JSONValue] = remote.reversed().map { m in
                [
                    "id": m["id"] ?? .null,
                    "from": .string(m["from"]?["id"]?.idString == thread ? "customer" : "business"),
                    "text": m["message"] ?? "", "time": m["created_time"] ?? .null,
                ]
            }
            return ToolOutcome(result: items.isEmpty ? "no earlier messages" : JSONValue.array(items).compactString)
        } catch {
            return .refused("could not fetch earlier messages from Instagram: \(error)")
        }
    }
}
