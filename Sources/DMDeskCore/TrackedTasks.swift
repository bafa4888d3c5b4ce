import Synchronization

/// Tasks a part starts on its own (a sender per recipient, a profile lookup) and must stop before the store
/// closes. Each is kept until it ends, so that a shutdown can wait for them, cancel the rest and await those too:
/// nothing a part started outlives it.
public final class TrackedTasks: Sendable {
    private struct State {
        var tasks: [Int: Task<Void, Never>] = [:]
        var next = 0
        var closed = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Starts `body` unless the set is closed (a shutdown began); returns whether it started.
    @discardableResult
    public func start(_ body: @escaping @Sendable () async -> Void) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            let number = s.next
            s.next += 1
            // Inserted under the lock the task's own removal takes: it cannot be removed before it is kept.
            s.tasks[number] = Task.detached {
                await body()
                self.state.withLock { _ = $0.tasks.removeValue(forKey: number) }
            }
            return true
        }
    }

    /// Tasks running now.
    public var count: Int { state.withLock { $0.tasks.count } }

    /// Starts no more; waits up to `grace` for the running tasks to end, then cancels the rest and awaits them.
    /// Returns how many had to be cancelled.
    @discardableResult
    public func shutdown(grace: Duration) async -> Int {
        state.withLock { $0.closed = true }
        if await poll(within: grace, { count == 0 }) { return 0 }
        let rest = state.withLock { Array($0.tasks.values) }
        for task in rest { task.cancel() }
        for task in rest { await task.value }
        return rest.count
    }
}
