import Glibc
import Logging
import ServiceLifecycle

// systemd's notification protocol (sd_notify(3)) without libsystemd: one datagram per state change, sent to the
// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@'). Without
// $NOTIFY_SOCKET every call does nothing. Sends use MSG_DONTWAIT, so a full receive queue drops the datagram
// instead of blocking the caller's thread (it never blocks the cooperative pool).

/// Where to send notifications, and how often systemd wants `WATCHDOG=1`; read once from the environment.
public struct SystemdNotify: Sendable {
    /// The socket's address: a filesystem path, or an abstract name starting with "@".
    public let socket: String?
    /// Half of `WATCHDOG_USEC` when it is set for this process (`WATCHDOG_PID` unset or ours), else nil.
    public let watchdogInterval: Duration?

    public init(environment: [String: String]) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socket = path
        var interval: Duration?
        if path != nil, let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 {
            let pid = environment["WATCHDOG_PID"].flatMap { Int32($0) }
            if pid == nil || pid == getpid() {
                interval = .microseconds(Int64(clamping: usec / 2))
            }
        }
        watchdogInterval = interval
    }

    /// Sends `state` (e.g. "READY=1"); false when there is no socket or the send failed (systemd not listening).
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard let socket else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socket.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        // An abstract name's length is exact (no terminating NUL); a path includes its NUL.
        let length = socklen_t(pathOffset + bytes.count + (abstract ? 0 : 1))
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = message.withUnsafeBytes { body in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { addr in
                    sendto(fd, body.baseAddress, body.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL), addr, length)
                }
            }
        }
        return sent == message.count
    }
}

/// Pings systemd's watchdog every `WATCHDOG_USEC / 2` while the daemon runs, and says `STOPPING=1` when the
/// graceful shutdown begins. Runs last in the group, so it is the first part told to stop.
struct SystemdWatchdogService: Service {
    let notify: SystemdNotify
    let logger: Logger

    func run() async throws {
        if let interval = notify.watchdogInterval {
            logger.debug("systemd watchdog on", metadata: ["interval": "\(interval)"])
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    notify.send("WATCHDOG=1")
                    try? await Task.sleep(for: interval)
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        notify.send("STOPPING=1")
    }
}
