import Foundation

extension Thread {
    /// Starts a dedicated thread (never one of Swift's cooperative pool) that the OS knows by `name`, as `top -H`,
    /// `perf` and `/proc/*/task/*/comm` show it. Setting Foundation's `name` before `start()` does not reach the
    /// OS thread on Linux, which also keeps only 15 bytes of a name; so the thread writes its own name to
    /// `/proc/thread-self/comm` (pthread_setname_np is not visible to Swift here).
    @discardableResult
    public static func start(named name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) -> Thread {
        let thread = Thread {
            #if os(Linux)
            try? Data(name.utf8.prefix(15)).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
            #endif
            body()
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
        return thread
    }
}
