import DMDeskDaemon
import DMDeskDemo
import Foundation
import Glibc
import Testing

/// A real AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET. Reads happen on a thread of their own
/// (`onThread`), with a receive timeout, so the cooperative pool stays free for the daemon under test.
private final class NotifyReceiver: Sendable {
    let fd: Int32
    let address: String

    /// Binds `address`: a path, or an abstract name starting with "@".
    init(address: String) throws {
        self.address = address
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EBADF) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t((MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2) + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { close(fd); throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The next datagram, or nil when none arrives within `timeout` seconds.
    func next(timeout: Double = 10) async throws -> String? {
        let fd = self.fd
        return try await onThread {
            let deadline = Date().addingTimeInterval(timeout)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 { return String(decoding: buffer[0..<n], as: UTF8.self) }
            }
            return nil
        }
    }
}

@Suite("systemd notifications: READY, WATCHDOG and STOPPING on $NOTIFY_SOCKET")
struct SystemdNotifyTests {
    @Test("READY=1 comes once the listener answers and the control socket exists; WATCHDOG=1 pings; STOPPING=1 at shutdown")
    func daemonNotifies() async throws {
        let dir = try makeTempDirectory(prefix: "dmdesk-notify")
        let receiver = try NotifyReceiver(address: dir + "/notify.sock")
        // 200 ms: a ping every 100 ms.
        let notify = SystemdNotify(environment: ["NOTIFY_SOCKET": receiver.address, "WATCHDOG_USEC": "200000"])
        #expect(notify.watchdogInterval == .milliseconds(100))
        try await withRedis { redis in
            // Started without waiting, so the first datagram is read while the daemon may still be starting.
            let starting = Task { try await DaemonHarness(redisURL: redis.url, options: DaemonOptions(systemd: notify)) }
            var ready = false
            var pingsBeforeReady = 0
            while !ready, let message = try await receiver.next() {
                if message == "READY=1" { ready = true } else if message == "WATCHDOG=1" { pingsBeforeReady += 1 }
            }
            #expect(ready, "READY=1 arrived")
            let d = try await starting.value
            // At READY=1 the listener was already answering and the control socket bound (it is claimed first).
            #expect(try await d.request(.GET, "/health").status == 200)
            #expect(FileManager.default.fileExists(atPath: d.dataDir + "/dmdesk.sock"))

            var pings = 0
            let until = Date().addingTimeInterval(2)
            while Date() < until, let message = try await receiver.next(timeout: 1) {
                #expect(message == "WATCHDOG=1", "only pings while running, got \(message)")
                pings += 1
            }
            #expect(pings >= 5, "about 20 pings in 2 s at 100 ms, got \(pings)")

            try await d.stop()
            var rest: [String] = []
            while let message = try await receiver.next(timeout: 1) { rest.append(message) }
            #expect(rest.filter { $0 != "WATCHDOG=1" } == ["STOPPING=1"], "after the stop: \(rest)")
            #expect(rest.last == "STOPPING=1", "no ping after STOPPING=1: \(rest)")
        }
    }

    @Test("abstract '@' socket names are reached; nothing is configured without NOTIFY_SOCKET; WATCHDOG_PID must be ours")
    func addressesAndEnvironment() async throws {
        let name = "@dmdesk-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let receiver = try NotifyReceiver(address: name)
        let notify = SystemdNotify(environment: ["NOTIFY_SOCKET": name])
        #expect(notify.send("READY=1"))
        #expect(try await receiver.next(timeout: 2) == "READY=1")
        #expect(notify.watchdogInterval == nil, "no WATCHDOG_USEC: no pings")

        let none = SystemdNotify(environment: ["WATCHDOG_USEC": "1000000"])
        #expect(none.socket == nil && none.watchdogInterval == nil)
        #expect(!none.send("READY=1"))

        let other = SystemdNotify(environment: ["NOTIFY_SOCKET": name, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "\(getpid() + 1)"])
        #expect(other.watchdogInterval == nil, "the watchdog is another process's")
        let mine = SystemdNotify(environment: ["NOTIFY_SOCKET": name, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(mine.watchdogInterval == .milliseconds(500))
    }
}
