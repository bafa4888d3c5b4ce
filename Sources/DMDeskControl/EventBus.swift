import DMDeskCore
import Foundation
import Synchronization

/// Fans committed journal events out to every attached client.
///
/// The daemon's ingest thread calls `publish` after each commit, so publishing must never wait on a
/// subscriber: each subscription has its own bounded queue, and a subscriber that falls behind is
/// marked overflowed (its consumer then drops the client) instead of slowing everyone else down.
public final class EventBus: Sendable {
    private struct State {
        var subscriptions: [EventSubscription] = []
        var lastSeq: Int64
    }

    private let state: Mutex<State>

    /// - Parameter lastSeq: the newest seq already in the journal when the daemon starts, so that
    ///   `subscribe` can tell a client where the live stream begins before anything is published.
    public init(lastSeq: Int64 = 0) {
        state = Mutex(State(lastSeq: lastSeq))
    }

    /// The newest seq published so far (or the `lastSeq` the bus was created with).
    public var lastPublishedSeq: Int64 { state.withLock { $0.lastSeq } }

    public var subscriberCount: Int { state.withLock { $0.subscriptions.count } }

    /// Hands `events` (ascending seq) to every subscriber. O(subscribers); takes only short,
    /// uncontended locks and never blocks on a consumer.
    public func publish(_ events: [JournalEvent]) {
        guard !events.isEmpty else { return }
        let newest = events.map(\.seq).max() ?? 0
        let subscribers = state.withLock { state -> [EventSubscription] in
            state.lastSeq = max(state.lastSeq, newest)
            return state.subscriptions
        }
        for subscription in subscribers {
            subscription.deliver(events)
        }
    }

    /// Registers a live subscription. Events published after this call are queued for it (up to
    /// `capacity` undelivered events); `startSeq` is the newest seq published before it, so a
    /// client knows where its live stream begins.
    ///
    /// - Parameter onReady: called (from the publishing thread, outside any lock) when the queue goes
    ///   from empty to non-empty or the subscription overflows. Must be cheap and must not block.
    public func subscribe(capacity: Int = 10_000, onReady: (@Sendable () -> Void)? = nil) -> EventSubscription {
        state.withLock { state in
            let subscription = EventSubscription(
                capacity: capacity, startSeq: state.lastSeq, onReady: onReady,
                detach: { [weak self] subscription in self?.remove(subscription) })
            state.subscriptions.append(subscription)
            return subscription
        }
    }

    private func remove(_ subscription: EventSubscription) {
        state.withLock { state in
            state.subscriptions.removeAll { $0 === subscription }
        }
    }
}

/// One consumer's bounded queue of live events.
public final class EventSubscription: @unchecked Sendable {
    /// What a consumer gets from `next`.
    public enum Batch: Sendable, Equatable {
        case events([JournalEvent])
        /// The queue overflowed; the events in it were dropped. Resume from the journal.
        case overflowed
        case cancelled
        case timedOut
    }

    public let capacity: Int
    /// The newest seq published before this subscription was registered.
    public let startSeq: Int64

    private let onReady: (@Sendable () -> Void)?
    private let detach: @Sendable (EventSubscription) -> Void

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [JournalEvent] = []
    private var head = 0
    private var overflowed = false
    private var cancelled = false

    init(
        capacity: Int, startSeq: Int64, onReady: (@Sendable () -> Void)?,
        detach: @escaping @Sendable (EventSubscription) -> Void
    ) {
        self.capacity = max(1, capacity)
        self.startSeq = startSeq
        self.onReady = onReady
        self.detach = detach
    }

    public var isOverflowed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return overflowed
    }

    /// Events queued and not yet taken.
    public var pendingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count - head
    }

    /// Takes up to `maxCount` queued events, waiting up to `timeout` for some to arrive
    /// (`nil` waits indefinitely, `.zero` does not wait).
    public func next(timeout: Duration? = nil, maxCount: Int = 1024) -> Batch {
        let deadline = timeout.map { Date().addingTimeInterval($0.seconds) }
        condition.lock()
        defer { condition.unlock() }
        while true {
            if cancelled { return .cancelled }
            if overflowed { return .overflowed }
            if queue.count > head { return .events(takeLocked(maxCount: maxCount)) }
            if let deadline {
                if Date() >= deadline || !condition.wait(until: deadline) {
                    if queue.count > head { continue }
                    return cancelled ? .cancelled : (overflowed ? .overflowed : .timedOut)
                }
            } else {
                condition.wait()
            }
        }
    }

    /// Stops delivery, drops anything queued and detaches from the bus. Idempotent.
    public func cancel() {
        condition.lock()
        let wasCancelled = cancelled
        cancelled = true
        queue = []
        head = 0
        condition.broadcast()
        condition.unlock()
        if !wasCancelled { detach(self) }
    }

    /// Called by the bus on the publishing thread.
    func deliver(_ events: [JournalEvent]) {
        condition.lock()
        guard !cancelled, !overflowed else {
            condition.unlock()
            return
        }
        let pending = queue.count - head
        let notify: Bool
        if pending + events.count > capacity {
            // Too slow: drop its queue rather than grow without bound or make the publisher wait.
            overflowed = true
            queue = []
            head = 0
            notify = true
        } else {
            queue.append(contentsOf: events)
            notify = pending == 0
        }
        if notify { condition.broadcast() }
        condition.unlock()
        if notify { onReady?() }
    }

    private func takeLocked(maxCount: Int) -> [JournalEvent] {
        let end = min(queue.count, head + max(1, maxCount))
        let batch: [JournalEvent]
        if head == 0 && end == queue.count {
            batch = queue
            queue = []
        } else {
            batch = Array(queue[head..<end])
            head = end
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 4096 && head * 2 >= queue.count {
                // Compact now and then so the consumed prefix does not pin memory.
                queue.removeFirst(head)
                head = 0
            }
        }
        return batch
    }
}

extension Duration {
    /// Milliseconds for poll(2), rounded up so a short positive wait never becomes a busy loop.
    var pollMilliseconds: Int32 {
        let ms = (seconds * 1000).rounded(.up)
        return Int32(clamping: Int(max(0, min(ms, Double(Int32.max)))))
    }
}
