import DMDeskCore
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// The outbox's door to the store: batches marks (`pending` → `sending` before a call) and send results into one
/// commit each, and "what is this row's status?" checks into one read, in one task at a time that awaits the store.
///
/// While the processor runs it hosts the writes instead (`attach`): its loop records them in the same transaction
/// as its next tick, so the two never queue for SQLite's single writer against each other.
final class OutboxCommitter: Sendable {
    typealias Finish = (result: OutboundResult, continuation: CheckedContinuation<Result<Void, Error>, Never>)
    typealias Mark = (id: Int64, continuation: CheckedContinuation<Result<SendingMark, Error>, Never>)
    typealias Check = (id: Int64, continuation: CheckedContinuation<(status: OutboundRecord.Status, attempts: Int)?, Never>)

    /// What the host takes to write with its tick.
    struct Writes {
        var finishes: [Finish] = []
        var marks: [Mark] = []
        var isEmpty: Bool { finishes.isEmpty && marks.isEmpty }
    }

    private struct State {
        var checks: [Check] = []
        var writes = Writes()
        var scheduled = false
        var host: (@Sendable () -> Void)?
    }

    private let store: any InboxStore
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let state = Mutex(State())
    private let maxBatch = 1024

    init(store: any InboxStore, logger: Logger, publish: @escaping @Sendable ([JournalEvent]) -> Void) {
        self.store = store
        self.logger = logger
        self.publish = publish
    }

    /// The row's status and attempts; nil if there is no such row or it cannot be read.
    func check(_ id: Int64) async -> (status: OutboundRecord.Status, attempts: Int)? {
        await withCheckedContinuation { c in
            let start = state.withLock { s -> Bool in
                s.checks.append((id, c))
                return schedule(&s)
            }
            if start { startRunner() }
        }
    }

    /// Marks the row `sending` if it is pending; returns once that is committed (or failed).
    func mark(_ id: Int64) async -> Result<SendingMark, Error> {
        await withCheckedContinuation { c in enqueueWrite { $0.marks.append((id, c)) } }
    }

    /// Records the result; returns once it is committed and its events are published, or the write failed.
    func finish(_ result: OutboundResult) async -> Result<Void, Error> {
        await withCheckedContinuation { c in enqueueWrite { $0.finishes.append((result, c)) } }
    }

    private func enqueueWrite(_ add: (inout Writes) -> Void) {
        let (start, wake) = state.withLock { s -> (Bool, (@Sendable () -> Void)?) in
            add(&s.writes)
            if let host = s.host { return (false, host) }
            return (schedule(&s), nil)
        }
        wake?()
        if start { startRunner() }
    }

    /// The one runner (`scheduled` keeps it one): a task that awaits the store until nothing is left to do.
    private func startRunner() {
        Task { await self.run() }
    }

    private func schedule(_ s: inout State) -> Bool {
        if s.scheduled { return false }
        s.scheduled = true
        return true
    }

    /// From now on `wake` is called when writes wait, and the host records them (`takeWrites`, `completed`).
    func attach(_ wake: @escaping @Sendable () -> Void) {
        let waiting = state.withLock { s -> Bool in
            s.host = wake
            return !s.writes.isEmpty
        }
        if waiting { wake() }
    }

    /// The host is gone: writes go back to the committer's own queue (those already waiting too).
    func detach() {
        let start = state.withLock { s -> Bool in
            s.host = nil
            return !s.writes.isEmpty && schedule(&s)
        }
        if start { startRunner() }
    }

    /// For the host: the writes waiting.
    func takeWrites() -> Writes {
        state.withLock { s in
            defer { s.writes = Writes() }
            return s.writes
        }
    }

    /// For the host, after its commit: publishes the results' events in commit order and wakes the senders.
    func completed(_ writes: Writes, finished: [Result<OutboxChange, Error>], marked: [Result<SendingMark, Error>]) {
        var events: [JournalEvent] = []
        for case .success(let change) in finished { events += change.events }
        if !events.isEmpty { publish(events) }
        for (finish, outcome) in zip(writes.finishes, finished) { finish.continuation.resume(returning: outcome.map { _ in () }) }
        for (mark, outcome) in zip(writes.marks, marked) { mark.continuation.resume(returning: outcome) }
    }

    /// For the host, when its transaction failed: every write failed (nothing of it was committed).
    func failed(_ writes: Writes, _ error: Error) {
        completed(writes, finished: writes.finishes.map { _ in .failure(error) }, marked: writes.marks.map { _ in .failure(error) })
    }

    private func run() async {
        while true {
            let (checks, writes) = state.withLock { s -> ([Check], Writes) in
                let checks = Array(s.checks.prefix(maxBatch))
                s.checks.removeFirst(checks.count)
                var writes = Writes()
                if s.host == nil {
                    writes.finishes = Array(s.writes.finishes.prefix(maxBatch))
                    s.writes.finishes.removeFirst(writes.finishes.count)
                    writes.marks = Array(s.writes.marks.prefix(maxBatch))
                    s.writes.marks.removeFirst(writes.marks.count)
                }
                if checks.isEmpty && writes.isEmpty { s.scheduled = false }
                return (checks, writes)
            }
            if checks.isEmpty && writes.isEmpty { return }
            if !writes.isEmpty {
                let finished = await store.finishOutbound(writes.finishes.map(\.result))
                let marked = await store.markSending(writes.marks.map(\.id))
                completed(writes, finished: finished, marked: marked)
            }
            if !checks.isEmpty {
                let statuses: [Int64: (status: OutboundRecord.Status, attempts: Int)]
                do {
                    statuses = try await store.outboundStatuses(checks.map(\.id))
                } catch {
                    logger.error("could not read outbox rows", metadata: ["error": "\(error)"])
                    statuses = [:]
                }
                for (id, c) in checks { c.resume(returning: statuses[id]) }
            }
        }
    }
}
