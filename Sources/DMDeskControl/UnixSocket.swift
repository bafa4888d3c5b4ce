import DMDeskCore
import Foundation
import Glibc

/// Thin wrappers over the POSIX calls the server needs, kept in one place.
enum UnixSocket {
    /// `sockaddr_un` for `path`, or nil when the path does not fit in `sun_path`.
    static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return address
    }

    static var maxPathBytes: Int { DMDeskConfig.maxSocketPathBytes }

    static func makeStreamSocket(nonBlocking: Bool = false) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return socket(AF_UNIX, type, 0)
    }

    static func bind(_ fd: Int32, _ address: sockaddr_un) -> Int32 {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    static func connect(_ fd: Int32, _ address: sockaddr_un) -> Int32 {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    enum ProbeResult: Equatable {
        case nothingThere
        case listening
        /// A socket file nobody listens on (its daemon died without unlinking it).
        case stale
        case failed(errno: Int32)
    }

    /// Whether something accepts connections on `path`. Non-blocking, so a daemon whose backlog is
    /// full still counts as alive (EAGAIN) rather than hanging the probe.
    static func probe(_ address: sockaddr_un) -> ProbeResult {
        let fd = makeStreamSocket(nonBlocking: true)
        guard fd >= 0 else { return .failed(errno: errno) }
        defer { close(fd) }
        if connect(fd, address) == 0 { return .listening }
        switch errno {
        case EAGAIN, EINPROGRESS: return .listening
        case ECONNREFUSED: return .stale
        case ENOENT: return .nothingThere
        case let code: return .failed(errno: code)
        }
    }

    /// Linux `struct ucred`, which Glibc only exposes under _GNU_SOURCE (not visible to Swift).
    private struct PeerCredentials {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
    }

    /// The connecting process's uid (SO_PEERCRED), as the kernel recorded it at connect().
    static func peerUID(_ fd: Int32) -> uid_t? {
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0,
              length == socklen_t(MemoryLayout<PeerCredentials>.size)
        else { return nil }
        return credentials.uid
    }

    enum SendResult {
        case sent(Int)
        case wouldBlock
        case closed
    }

    /// One non-blocking send that never raises SIGPIPE.
    static func sendSome(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> SendResult {
        while true {
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if n >= 0 { return .sent(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .closed
            }
        }
    }

    /// Bytes sent on a stream socket that the peer has not read yet (`TIOCOUTQ`, alias `SIOCOUTQ`). For a Unix
    /// socket this is the kernel's own accounting, overhead included: the units `SO_SNDBUF` is measured in.
    static func queuedBytes(_ fd: Int32) -> Int? {
        var queued: Int32 = 0
        guard ioctl(fd, UInt(TIOCOUTQ), &queued) == 0 else { return nil }
        return Int(queued)
    }

    /// The send buffer's limit as the kernel applies it (`SO_SNDBUF`, already doubled by the kernel).
    static func sendBufferLimit(_ fd: Int32) -> Int? {
        var size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0, size > 0 else { return nil }
        return Int(size)
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
