import DMDeskTesting
import Foundation
import Synchronization

/// A real terminal for console tests: a private tmux server running one program in a window of a given size.
final class TmuxTerminal: @unchecked Sendable {
    let socketName = "dmdesk-test-\(UUID().uuidString.prefix(8))"
    let session = "t"

    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

    /// The tmux server and the program in its pane, killed by `close()` — or at exit, for a terminal a test
    /// still held when the process ended (its deinit never runs then).
    private let processes: [pid_t]

    init(command: String, width: Int = 100, height: Int = 30, environment: [String: String] = [:]) throws {
        var env = environment
        env["LANG"] = env["LANG"] ?? "C.UTF-8"
        let exports = env.map { "export \($0.key)='\($0.value)';" }.joined(separator: " ")
        // The pane's shell, the program and the `sleep` that keeps the last screen readable share one process
        // group, so killing the group ends them all.
        try spawnAndWait(
            ["/usr/bin/tmux", "-L", socketName, "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", String(width),
             "-y", String(height), "\(exports) \(command); sleep 600"], captureOutput: false)
        let pids = try spawnAndWait(
            ["/usr/bin/tmux", "-L", socketName, "-f", "/dev/null", "display-message", "-p", "-t", session, "#{pid} #{pane_pid}"],
            captureOutput: true)
        processes = pids.split(whereSeparator: \.isWhitespace).compactMap { pid_t($0) }
        Self.registerForExit(processes)
        try tmux(["set-option", "-t", session, "status", "off"])
    }

    deinit { close() }

    /// Ends the program and the tmux server; safe to call more than once.
    func close() {
        try? tmux(["kill-server"])
        Self.kill(processes)
        Self.live.withLock { $0.subtract(processes) }
    }

    private static let live = Mutex<Set<pid_t>>([])

    private static func registerForExit(_ pids: [pid_t]) {
        let first = live.withLock { set -> Bool in
            defer { set.formUnion(pids) }
            return set.isEmpty && !exitHookInstalled
        }
        if first {
            exitHookInstalled = true
            atexit { TmuxTerminal.kill(Array(TmuxTerminal.live.withLock { $0 })) }
        }
    }

    nonisolated(unsafe) private static var exitHookInstalled = false

    private static func kill(_ pids: [pid_t]) {
        for pid in pids where pid > 0 {
            _ = Glibc.kill(-pid, SIGKILL)  // the pane's process group
            _ = Glibc.kill(pid, SIGKILL)
        }
    }

    /// Runs tmux with posix_spawn + waitpid: Foundation's Process does not notice a tmux client exiting once
    /// it has forked a server. Only capture-pane's output is read (a server keeps inherited descriptors open).
    @discardableResult
    func tmux(_ args: [String]) throws -> String {
        try spawnAndWait(["/usr/bin/tmux", "-L", socketName, "-f", "/dev/null"] + args, captureOutput: args.first == "capture-pane")
    }

    func screen() -> String { (try? tmux(["capture-pane", "-p", "-t", session])) ?? "" }

    /// tmux's newest paste buffer (where OSC 52 copies land with `set-clipboard on`), through a file: only
    /// capture-pane's output is read directly.
    func pasteBuffer(via path: String) -> String? {
        try? FileManager.default.removeItem(atPath: path)
        guard (try? tmux(["save-buffer", path])) != nil else { return nil }
        return try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// Types literal text (UTF-8, emoji included).
    func type(_ text: String) throws { try tmux(["send-keys", "-t", session, "-l", text]) }

    /// Presses named keys (Enter, Escape, Tab, Down…).
    func press(_ keys: String...) throws { try tmux(["send-keys", "-t", session] + keys) }

    func resize(width: Int, height: Int) throws {
        try tmux(["resize-window", "-t", session, "-x", String(width), "-y", String(height)])
    }

    /// Waits until the screen satisfies `condition`; returns the last screen seen.
    @discardableResult
    func waitFor(timeout: Double = 15, _ condition: (String) -> Bool) -> (Bool, String) {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = screen()
            if condition(last) { return (true, last) }
            usleep(50_000)
        }
        return (condition(last), last)
    }

    func waitFor(_ text: String, timeout: Double = 15) -> (Bool, String) { waitFor(timeout: timeout) { $0.contains(text) } }
}

extension TmuxTerminal {
    func waitAsync(timeout: Double = 15, _ condition: @escaping @Sendable (String) -> Bool) async -> (Bool, String) {
        (try? await onThread { self.waitFor(timeout: timeout, condition) }) ?? (false, "")
    }
    func waitAsync(_ text: String, timeout: Double = 15) async -> (Bool, String) {
        await waitAsync(timeout: timeout) { $0.contains(text) }
    }
    func pressAsync(_ keys: String...) async throws { try await onThread { try self.tmux(["send-keys", "-t", self.session] + keys) } }
    func typeAsync(_ text: String) async throws { try await onThread { try self.type(text) } }
    func resizeAsync(width: Int, height: Int) async throws { try await onThread { try self.resize(width: width, height: height) } }
}

/// The `dmdesk` executable built beside the test bundle.
func dmdeskExecutable() -> String? {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("dmdesk").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/dmdesk").path
    return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
}
