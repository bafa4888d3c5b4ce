import DMDeskCore
import DMDeskStore
import Foundation
import Logging

/// Serialises webhook deliveries onto one writer thread and group-commits them: under load many deliveries share
/// one SQLite transaction (each in its own savepoint) and one Redis pipeline. Each caller is answered only after
/// its delivery is committed, its context pushed and its events published — so a 200 always means durable.
///
/// The writer is a thread of its own rather than a task, so that group commit never waits for a task to be
/// scheduled: it takes what queued up while it was committing and commits it at once (`store.blocking`).
///
/// Two stages, each on its own thread: the writer commits batch N+1 while the finisher pushes batch N's context
/// to Redis, publishes its events and answers its callers. Both stages take batches in order, so for every
/// delivery the order stays commit → Redis → publish → answer, and events are published in commit order.
public final class IngestPipeline: @unchecked Sendable {
    public typealias Publish = @Sendable ([JournalEvent]) -> Void
    public typealias NotifyThreads = @Sendable (Set<String>) -> Void
    public typealias SubmitOutbound = @Sendable ([OutboundRecord]) -> Void

    private struct Pending {
        var events: [WebhookEvent]
        var continuation: CheckedContinuation<IngestOutcome, Error>
    }

    /// A committed batch, waiting for the finisher.
    private struct Committed {
        var batch: [Pending]
        var results: [Result<IngestOutcome, Error>]
    }

    private let store: any InboxStore
    /// The same store, for the writer thread.
    private let writer: any BlockingInboxStore
    private let redis: RedisContextStore?
    private let options: IngestOptions
    private let logger: Logger
    private let condition = NSCondition()
    private var queue: [Pending] = []
    private var stopping = false
    private var thread: Thread?
    private let finishCondition = NSCondition()
    private var committed: [Committed] = []
    private var writerDone = false
    private let finished = DispatchSemaphore(value: 0)
    private let maxBatch = 512
    private let publish: Publish
    private let notifyThreads: NotifyThreads
    private let submitOutbound: SubmitOutbound

    public init(
        store: any InboxStore, redis: RedisContextStore?, options: IngestOptions, logger: Logger,
        publish: @escaping Publish = { _ in }, notifyThreads: @escaping NotifyThreads = { _ in },
        submitOutbound: @escaping SubmitOutbound = { _ in }
    ) {
        self.submitOutbound = submitOutbound
        self.store = store
        writer = store.blocking
        self.redis = redis
        self.options = options
        self.logger = logger
        self.publish = publish
        self.notifyThreads = notifyThreads
    }

    public func start() {
        Thread.start(named: "dmdesk-finish") { [self] in self.finishLoop() }
        thread = Thread.start(named: "dmdesk-ingest") { [self] in self.loop() }
        store.startBackgroundCheckpoints()
    }

    /// Stops after every delivery already submitted is stored. The wait for the writer is a thread's own (it
    /// blocks on a semaphore).
    public func stop() async {
        await onOwnThread(named: "dmdesk-ingstop") { self.stopBlocking() }
    }

    private func stopBlocking() {
        condition.lock()
        let wasRunning = thread != nil && !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        if wasRunning {
            finished.wait()
            store.stopBackgroundCheckpoints()
        }
    }

    public func submit(_ events: [WebhookEvent]) async throws -> IngestOutcome {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: DaemonError.shuttingDown)
                return
            }
            queue.append(Pending(events: events, continuation: continuation))
            condition.signal()
            condition.unlock()
        }
    }

    /// Stage 1: commit batches to SQLite, hand each to the finisher.
    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                condition.unlock()
                break
            }
            let take = min(queue.count, maxBatch)
            let batch = Array(queue.prefix(take))
            queue.removeFirst(take)
            condition.unlock()
            let results = writer.ingest(batch.map(\.events), options: options)
            finishCondition.lock()
            committed.append(Committed(batch: batch, results: results))
            finishCondition.signal()
            finishCondition.unlock()
        }
        finishCondition.lock()
        writerDone = true
        finishCondition.signal()
        finishCondition.unlock()
    }

    /// Stage 2: everything committed so far goes to Redis in one pipeline, then is published and answered.
    private func finishLoop() {
        while true {
            finishCondition.lock()
            while committed.isEmpty && !writerDone { finishCondition.wait() }
            if committed.isEmpty && writerDone {
                finishCondition.unlock()
                break
            }
            let ready = committed
            committed.removeAll(keepingCapacity: true)
            finishCondition.unlock()
            finish(ready)
        }
        finished.signal()
    }

    private func finish(_ ready: [Committed]) {
        var context: [ContextTurn] = []
        var erasures: [ContextTurn] = []
        var events: [JournalEvent] = []
        var threads: Set<String> = []
        var outbound: [OutboundRecord] = []
        for item in ready {
            for case .success(let outcome) in item.results {
                outbound += outcome.outbound
                context += outcome.context
                erasures += outcome.contextErasures
                events += outcome.events
                threads.formUnion(outcome.threadsToProcess)
            }
        }
        if let redis, !context.isEmpty { redis.push(context) }
        if let redis, !erasures.isEmpty { redis.erase(erasures) }
        if !events.isEmpty { publish(events) }
        if !threads.isEmpty { notifyThreads(threads) }
        if !outbound.isEmpty { submitOutbound(outbound) }
        for item in ready {
            for (pending, result) in zip(item.batch, item.results) {
                switch result {
                case .success(let outcome): pending.continuation.resume(returning: outcome)
                case .failure(let error):
                    logger.error("could not store a delivery", metadata: ["error": "\(error)"])
                    pending.continuation.resume(throwing: error)
                }
            }
        }
    }
}
