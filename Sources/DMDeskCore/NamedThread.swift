import Foundation

/// The one way dmdesk starts a thread of its own. The concurrency rule (docs/ARCHITECTURE.md): async code never
/// blocks a cooperative-pool thread; work that blocks (a condition wait, a socket syscall, hiredis, a thread being
/// joined) runs on a thread started here, and the reason is written beside the call.
extension Thread {
    /// Linux keeps 15 bytes of a thread's name (`/proc/*/task/*/comm`).
    public static let maxNameBytes = 15

    /// Starts a dedicated thread (never one of Swift's cooperative pool) that the OS knows by `name`, as `top -H`,
    /// `perf` and `/proc/*/task/*/comm` show it. Setting Foundation's `name` before `start()` does not reach the
    /// OS thread on Linux; so the thread writes its own name to `/proc/thread-self/comm` (pthread_setname_np is not
    /// visible to Swift here). A name longer than 15 bytes is a programming error: the kernel would cut it.
    @discardableResult
    public static func start(named name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) -> Thread {
        precondition(name.utf8.count <= maxNameBytes, "thread name '\(name)' is longer than \(maxNameBytes) bytes")
        let thread = Thread {
            #if os(Linux)
            try? Data(name.utf8).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
            #endif
            body()
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
        return thread
    }
}

/// Runs blocking work on a thread of its own and awaits it: for the waits (a background thread finishing, a
/// database closing, a socket server's threads being joined) that must not hold a cooperative-pool thread.
public func onOwnThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.start(named: name) { continuation.resume(with: Result { try body() }) }
    }
}

/// The same for work that cannot fail.
public func onOwnThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.start(named: name) { continuation.resume(returning: body()) }
    }
}
