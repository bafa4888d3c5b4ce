import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// The reply processor. Per thread: wait a debounce window (`DMDESK_REPLY_DELAY_MS`, random within), claim every
/// pending message of the thread at once (`processing`), run the responder once for the batch, and — in one
/// transaction — queue the replies and mark the batch `processed`. Messages that arrive meanwhile schedule the
/// next batch.
///
/// One loop on its own thread does the work for all threads: a tick claims the due batches of many threads in one
/// transaction and completes them in another (group commit), so a thread can never have two batches in flight and
/// thousands of threads share a handful of commits. Sending is the outbox worker's job (in order per recipient).
public final class Processor: @unchecked Sendable {
    public typealias FaultHook = @Sendable (ClaimedBatch) throws -> Void

    private let store: any InboxStore
    private let config: DMDeskConfig
    /// The outbox's committer: this loop records the senders' marks and results with its ticks.
    private let committer: OutboxCommitter
    private let fanOut: FanOut
    private let responder: Responder
    private let metrics: DaemonMetrics
    /// Set with `DMDESK_RESPONDER=agent`: answers the batches the responder hands off.
    private var agent: AgentRunner?
    private let logger: Logger
    private let condition = NSCondition()
    /// Threads waiting for their debounce window or retry time → when they are due (ms since the epoch).
    private var due: [String: EpochMillis] = [:]
    private var stopping = false
    /// Threads whose batch the agent is answering: not claimed again until it is done.
    private var busy: Set<String> = []
    private var started = false
    /// Send results wait in the outbox committer (the loop records them with its next tick).
    private var outboxWaiting = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private let maxThreadsPerTick = 256
    private let faultHook = Mutex<FaultHook?>(nil)
    private let counters = Mutex(Counters())
    /// Ticks begun and ended (under `condition`): they differ while one runs. See `idleState`.
    private var ticksBegun = 0
    private var ticksEnded = 0

    public struct Counters: Sendable, Equatable {
        public var batches = 0
        public var messages = 0
        public var replies = 0
        public var failures = 0
        /// Ticks whose transaction failed as a whole (nothing committed), e.g. on a full disk.
        public var failedTicks = 0
    }

    /// First retry delay after a failed batch; doubles per attempt (1 s, 2 s, 4 s … by default).
    private let backoffBaseMillis: EpochMillis

    /// `agentPrompt`: the agent's system prompt when it answers (`DMDESK_RESPONDER=agent`), else nil.
    init(
        store: any InboxStore, config: DMDeskConfig, logger: Logger, committer: OutboxCommitter, fanOut: FanOut,
        backoffBaseMillis: EpochMillis = 1000, clock: @escaping @Sendable () -> EpochMillis = nowMillis,
        metrics: DaemonMetrics = DaemonMetrics(enabled: false), agent makeAgent: ((Responder, @escaping AgentRunner.Finished) -> AgentRunner)? = nil
    ) {
        self.store = store
        self.config = config
        self.committer = committer
        self.fanOut = fanOut
        self.backoffBaseMillis = max(backoffBaseMillis, 1)
        self.responder = Responder(config: config, clock: clock)
        self.metrics = metrics
        self.logger = logger
        agent = makeAgent?(responder) { [weak self] thread, again in self?.agentFinished(thread, again: again) }
    }

    private func agentFinished(_ thread: String, again: Bool) {
        condition.lock()
        defer { condition.unlock() }
        busy.remove(thread)
        if again && !stopping { due[thread] = min(due[thread] ?? .max, nowMillis()) }
        if due[thread] != nil { condition.signal() }
    }

    /// For tests: called with every claimed batch before the responder; throwing makes the batch fail.
    public func setFaultHook(_ hook: FaultHook?) { faultHook.withLock { $0 = hook } }

    public var counts: Counters { counters.withLock { $0 } }

    /// Start-up: batches left `processing` go back to `pending`, every thread with pending messages is scheduled.
    public func start() async {
        do {
            let reset = try await store.resetProcessing()
            if reset > 0 { logger.notice("returned interrupted batches to pending", metadata: ["messages": "\(reset)"]) }
        } catch {
            logger.error("could not reset interrupted batches", metadata: ["error": "\(error)"])
        }
        markStarted()
        do {
            let now = nowMillis()
            for (thread, dueAt) in try await store.threadsWithPending() { schedule(thread, at: max(dueAt ?? now, now)) }
        } catch {
            logger.error("could not read pending messages", metadata: ["error": "\(error)"])
        }
        // The outbox's send results are recorded by this loop, in the same transaction as a tick: one writer
        // instead of two taking turns at SQLite.
        committer.attach { [weak self] in self?.outboxResultsWaiting() }
        startLoop()
    }

    private func markStarted() {
        condition.lock()
        started = true
        condition.unlock()
    }

    private func startLoop() {
        condition.lock()
        thread = Thread.start(named: "dmdesk-replies") { [self] in self.loop() }
        condition.unlock()
    }

    /// Finishes the tick in progress and stops, then cancels the agent's runs and awaits them; messages not yet
    /// claimed stay `pending` for the next start. The wait for the loop is a thread's own (it blocks on a semaphore).
    public func stop() async {
        let wasRunning = condition.withLock {
            let running = thread != nil && !stopping
            stopping = true
            condition.broadcast()
            return running
        }
        if wasRunning { await onOwnThread(named: "dmdesk-procstop") { self.finished.wait() } }
        await agent?.stop()
        // The outbox's writes that arrive from now on are the committer's own business again.
        committer.detach()
    }

    private func outboxResultsWaiting() {
        condition.lock()
        defer { condition.unlock() }
        outboxWaiting = true
        condition.signal()
    }

    /// New pending messages in these threads (called by the ingest pipeline after its commit).
    public func notify(_ threads: Set<String>) {
        guard !threads.isEmpty else { return }
        let now = nowMillis()
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return }
        for thread in threads where due[thread] == nil {
            due[thread] = now + EpochMillis(config.replyDelay.random())
        }
        condition.signal()
    }

    /// Looks at `thread` again at `at` (or earlier if it is already scheduled earlier).
    func schedule(_ thread: String, at: EpochMillis) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return }
        if let existing = due[thread], existing <= at { return }
        due[thread] = at
        condition.signal()
    }

    private func loop() {
        while true {
            condition.lock()
            var ready: [String] = []
            while !stopping {
                if outboxWaiting { break }
                let now = nowMillis()
                var earliest: EpochMillis = .max
                for (thread, at) in due where !busy.contains(thread) {
                    if at <= now {
                        ready.append(thread)
                        if ready.count >= maxThreadsPerTick { break }
                    } else if at < earliest {
                        earliest = at
                    }
                }
                if !ready.isEmpty { break }
                if earliest == .max {
                    condition.wait()
                } else {
                    _ = condition.wait(until: Date(timeIntervalSince1970: Double(earliest) / 1000))
                }
            }
            if stopping {
                condition.unlock()
                break
            }
            for thread in ready { due[thread] = nil }
            outboxWaiting = false
            ticksBegun += 1
            condition.unlock()
            tick(ready, outbox: committer.takeWrites())
            condition.lock()
            ticksEnded += 1
            condition.unlock()
        }
        finished.signal()
    }

    private func tick(_ threads: [String], outbox writes: OutboxCommitter.Writes) {
        // This loop is a thread of its own (one transaction per tick, many threads in it): the blocking calls.
        let store = store.blocking
        let hook = faultHook.withLock { $0 }
        let responder = self.responder
        let agentAnswers = agent != nil
        let metrics = self.metrics
        // Claim, plan and complete in one transaction: planning is pure computation (no I/O), so it may run while
        // the writer is held, and the tick commits once.
        let tick: ReplyTick
        do {
            tick = try store.claimAndComplete(
                threads: threads, finishing: writes.finishes.map(\.result), marking: writes.marks.map(\.id)
            ) { batch, rules in
                try hook?(batch)
                let plan = responder.plan(batch, rules: rules, agentAnswers: agentAnswers)
                metrics.batch(outcome: plan.outcome, latencyMillis: batch.messages.map(\.timestamp).max().map { nowMillis() - $0 })
                return plan
            }
        } catch {
            // Nothing of the tick was committed: its batches are claimed again later, the outbox retries its writes.
            if !writes.isEmpty { committer.failed(writes, error) }
            counters.withLock { $0.failedTicks += 1 }
            logger.error("could not claim pending messages; retrying in 1 s", metadata: ["error": "\(error)"])
            let retry = nowMillis() + 1000
            for thread in threads { schedule(thread, at: retry) }
            return
        }
        if !writes.isEmpty { committer.completed(writes, finished: tick.finished, marked: tick.marked) }
        let claim = tick.claim
        for (thread, at) in claim.deferred { schedule(thread, at: at) }
        for broken in claim.rules.broken {
            logger.warning("skipping a rule that cannot be used", metadata: ["rule": "\(broken.id)", "reason": "\(broken.reason)"])
        }
        guard !tick.outcomes.isEmpty else { return }

        var events: [JournalEvent] = []
        var context: [ContextTurn] = []
        var records: [OutboundRecord] = []
        var failed: [(ClaimedBatch, String)] = []
        var planned = 0
        var messages = 0
        for outcome in tick.outcomes {
            // The customer sees the bot typing, once per batch it answers: before the reply, or while the agent
            // composes one.
            if config.typingIndicator, let plan = outcome.plan, case .success(let done) = outcome.result,
                plan.handOff || done.records.contains(where: { Self.isMessage($0, to: plan.thread) })
            {
                fanOut.outbox.senderActions.send(.typingOn, to: plan.thread)
            }
            if let plan = outcome.plan, plan.handOff, case .success = outcome.result, let agent {
                condition.lock()
                busy.insert(plan.thread)
                condition.unlock()
                agent.start(outcome.batch, rules: claim.rules)
            }
            if let plan = outcome.plan {
                planned += 1
                messages += plan.mids.count
            }
            switch outcome.result {
            case .success(let done):
                events += done.events
                context += done.context
                records += done.records
                if let plan = outcome.plan {
                    logger.debug(
                        "answered a batch",
                        metadata: ["thread": "\(plan.thread)", "messages": "\(plan.mids.count)", "why": "\(plan.reason)",
                                   "sent": "\(done.records.count)", "suppressed": "\(done.suppressed)"])
                }
            case .failure(let error):
                failed.append((outcome.batch, "\(error)"))
            }
        }
        fanOut.dispatch(context: context, events: events, records: records)
        counters.withLock {
            $0.batches += planned
            $0.messages += messages
            $0.replies += records.count
            $0.failures += failed.count
        }

        for (batch, reason) in failed {
            logger.warning("could not answer a batch", metadata: ["thread": "\(batch.thread)", "error": "\(reason)"])
            do {
                let failure = try store.failBatch(
                    thread: batch.thread, mids: batch.mids, error: reason, backoffBaseMillis: backoffBaseMillis)
                if !failure.events.isEmpty { fanOut.publish(failure.events) }
                if let at = failure.retryAt { schedule(batch.thread, at: at) }
            } catch {
                logger.error("could not record a failed batch", metadata: ["thread": "\(batch.thread)", "error": "\(error)"])
                schedule(batch.thread, at: nowMillis() + 1000)
            }
        }
    }

    /// A DM to the customer of `thread` (not a reaction, not the manager's WhatsApp notification).
    private static func isMessage(_ record: OutboundRecord, to thread: String) -> Bool {
        record.channel == .instagram && record.kind != .reaction && record.recipient == thread
    }

    // MARK: - Idle (the wait is in Processor+Idle.swift)

    /// What the processor has to do, taken at once under its lock.
    public var idleState: IdleState {
        condition.lock()
        defer { condition.unlock() }
        return IdleState(
            takenAt: nowMillis(), running: thread != nil && !stopping, scheduled: due.count, earliestDue: due.values.min(),
            tickInFlight: ticksBegun != ticksEnded, ticks: ticksBegun, agentRuns: busy.count, outboxResultsWaiting: outboxWaiting)
    }
}
