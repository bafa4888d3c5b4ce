import Foundation

/// A real `redis-server` on a free loopback port, in its own temp directory, for tests and benchmarks.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: String
    private var process: Process?

    public enum LaunchError: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)
        public var description: String {
            switch self {
            case .notInstalled: return "redis-server is not installed (apt-get install redis-server)"
            case .didNotStart(let why): return "redis-server did not start: \(why)"
            }
        }
    }

    public init(port: Int? = nil) throws {
        self.port = try port ?? freeTCPPort()
        directory = try makeTempDirectory(prefix: "dmdesk-redis")
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    public static func executable() -> String? {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] where FileManager.default.isExecutableFile(atPath: dir + "/redis-server") {
            return dir + "/redis-server"
        }
        return nil
    }

    /// Starts the server and waits until it answers PING.
    public func start() throws {
        guard let exe = Self.executable() else { throw LaunchError.notInstalled }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory,
            "--daemonize", "no", "--loglevel", "warning",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? command(["PING"])) == "PONG" { return }
            if !p.isRunning { throw LaunchError.didNotStart("exited with status \(p.terminationStatus)") }
            usleep(20_000)
        }
        throw LaunchError.didNotStart("no PONG within 10 s on port \(port)")
    }

    public func stop() {
        guard let p = process else { return }
        // SIGKILL: the server keeps nothing on disk, and a SIGTERM may be ignored when the test process's
        // signal handling (SIG_IGN is inherited across exec) got there first. waitUntilExit spins a run loop,
        // which can stall inside Swift concurrency, so poll instead.
        let pid = p.processIdentifier
        kill(pid, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while kill(pid, 0) == 0 && Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(2_000)
        }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        process = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs one command through `redis-cli` and returns its raw output (trimmed).
    @discardableResult
    public func command(_ args: [String]) throws -> String {
        let cli = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "/usr/bin/redis-cli"
        return try spawnAndWait([cli, "-p", String(port), "--raw"] + args, captureOutput: true)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func list(_ key: String) throws -> [String] {
        let raw = try command(["LRANGE", key, "0", "-1"])
        return raw.isEmpty ? [] : raw.components(separatedBy: "\n")
    }

    public func ttl(_ key: String) throws -> Int { Int(try command(["TTL", key])) ?? -3 }
}

/// Asks the kernel for a free TCP port on 127.0.0.1.
public func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

public func makeTempDirectory(prefix: String = "dmdesk") throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
