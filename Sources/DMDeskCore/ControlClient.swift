import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why talking to the daemon's control socket failed.
public enum ControlClientError: Error, Equatable, CustomStringConvertible {
    /// Nothing listens on the socket (missing file, refused, or a stale file).
    case noDaemon(String)
    /// The daemon speaks another protocol version (or did not say hello).
    case protocolMismatch(expected: Int, got: Int?)
    /// A system call failed or the connection broke.
    case io(String)
    /// The daemon answered the request with an error.
    case server(ControlError)
    /// No reply arrived in time.
    case timeout
    /// The daemon closed the connection.
    case closed

    public var description: String {
        switch self {
        case .noDaemon(let path):
            return "no dmdesk daemon is running on \(path); start one with `dmdesk --daemon`"
        case .protocolMismatch(let expected, let got):
            let theirs = got.map { "protocol \($0)" } ?? "no hello"
            return "the daemon speaks \(theirs), this dmdesk speaks protocol \(expected); upgrade one of them"
        case .io(let message): return message
        case .server(let error): return error.message
        case .timeout: return "the daemon did not answer in time"
        case .closed: return "the daemon closed the connection"
        }
    }
}

/// A client for the control socket: newline-delimited JSON over AF_UNIX.
///
/// Two ways to use it: scripting commands call the blocking `request(_:timeout:)`; the console puts
/// `fileDescriptor` in its own `poll()` set and uses `sendRequest(_:)` + `readAvailable()`.
/// Not thread-safe: one owner at a time.
public final class ControlClient: @unchecked Sendable {
    public let path: String
    /// The server's greeting (protocol version, daemon version, account, listener address).
    public private(set) var hello: ServerLine
    /// Non-blocking socket; poll it for POLLIN.
    public private(set) var fileDescriptor: Int32
    public private(set) var isClosed = false

    private var nextId: Int64 = 1
    private var buffer: [UInt8] = []
    /// Where the next newline search starts, so a long line arriving in many reads is scanned once.
    private var scanFrom = 0
    /// Lines read while `request` waited for its own reply; handed out by `readAvailable`.
    private var queued: [Data] = []
    private var sawEOF = false
    /// Replies can be large (10,000 threads); this only guards against a runaway peer.
    private let maxLineBytes = 256 << 20

    private init(path: String, fd: Int32) {
        self.path = path
        self.fileDescriptor = fd
        self.hello = ServerLine(type: "hello")
    }

    deinit { close() }

    /// Connects and reads the server's `hello`.
    public static func connect(path: String, timeout: Double = 5) throws(ControlClientError) -> ControlClient {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .io("socket(): \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard pathBytes.count < capacity else {
            Glibc.close(fd)
            throw .io("socket path is too long (\(pathBytes.count) bytes, max \(capacity - 1)): \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 {
            let err = errno
            Glibc.close(fd)
            if err == ENOENT || err == ECONNREFUSED || err == ENOTSOCK { throw .noDaemon(path) }
            throw .io("connect(\(path)): \(String(cString: strerror(err)))")
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)

        let client = ControlClient(path: path, fd: fd)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let lines = try client.readLines(until: deadline)
            if let raw = lines.first {
                guard let first = ServerLine.read(raw), first.type == "hello" else { throw .protocolMismatch(expected: ControlProtocol.version, got: nil) }
                guard first.protocol == ControlProtocol.version else {
                    throw .protocolMismatch(expected: ControlProtocol.version, got: first.protocol)
                }
                client.hello = first
                client.queued.append(contentsOf: lines.dropFirst())
                return client
            }
        }
    }

    public func close() {
        if fileDescriptor >= 0 { Glibc.close(fileDescriptor) }
        fileDescriptor = -1
        isClosed = true
    }

    /// Writes a request with a fresh id (whatever `id` it carried is replaced) and returns that id.
    @discardableResult
    public func sendRequest(_ request: ControlRequest) throws(ControlClientError) -> Int64 {
        guard !isClosed else { throw .closed }
        let id = nextId
        nextId += 1
        var req = request
        req.id = .number(Double(id))
        var bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder.compact.encode(req))
        } catch {
            throw .io("cannot encode request: \(error)")
        }
        bytes.append(0x0A)
        try writeAll(bytes)
        return id
    }

    /// Sends a request and waits for its reply; events that arrive meanwhile are kept for `readAvailable`.
    /// Returns the reply's `result` (`null` when the daemon sent none).
    public func request(_ request: ControlRequest, timeout: Double = 30) throws(ControlClientError) -> JSONValue {
        let id = try sendRequest(request)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            var reply: ServerLine? = nil
            if let index = queued.firstIndex(where: { raw in
                guard let line = ServerLine.read(raw), Self.isReply(line, to: id) else { return false }
                reply = line
                return true
            }), let reply {
                queued.remove(at: index)
                if reply.type == "error" {
                    throw .server(reply.error ?? ControlError(code: "unknown", message: "request failed"))
                }
                return reply.result ?? .null
            }
            queued.append(contentsOf: try readLines(until: deadline))
        }
    }

    /// Everything readable right now, split into lines (partial lines wait for the rest).
    /// Throws `.closed` once the daemon has hung up and every complete line has been handed out.
    public func readAvailable() throws(ControlClientError) -> [ServerLine] {
        try readAvailableRaw().compactMap { ServerLine.read($0) }
    }

    /// Like `readAvailable`, but each line's undecoded JSON: a client expecting a large reply (10,000
    /// threads) can decode it straight into its own types instead of through `JSONValue`.
    public func readAvailableRaw() throws(ControlClientError) -> [Data] {
        var lines = queued
        queued.removeAll()
        if !sawEOF && !isClosed {
            lines.append(contentsOf: try drainSocket())
        }
        if lines.isEmpty && (sawEOF || isClosed) { throw .closed }
        return lines
    }

    /// The reply's id as a number (ids are generated by this client, so they are integers).
    public static func replyId(_ line: ServerLine) -> Int64? {
        guard line.type == "ok" || line.type == "error" else { return nil }
        return line.id?.int64Value
    }

    private static func isReply(_ line: ServerLine, to id: Int64) -> Bool { replyId(line) == id }

    // MARK: - Socket plumbing

    /// Waits (until the deadline) for at least one complete line.
    private func readLines(until deadline: Date) throws(ControlClientError) -> [Data] {
        while true {
            let lines = try drainSocket()
            if !lines.isEmpty { return lines }
            if sawEOF { throw .closed }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { throw .timeout }
            var pfd = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
            let rc = poll(&pfd, 1, Int32(min(remaining * 1000, 60_000)) + 1)
            if rc < 0 && errno != EINTR { throw .io("poll(): \(String(cString: strerror(errno)))") }
        }
    }

    /// Reads until EAGAIN and returns the complete lines now in the buffer.
    private func drainSocket() throws(ControlClientError) -> [Data] {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                if buffer.count > maxLineBytes && !buffer[scanFrom...].contains(0x0A) {
                    close()
                    throw .io("the daemon sent a line over \(maxLineBytes) bytes")
                }
                continue
            }
            if n == 0 { sawEOF = true; break }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { break }
            let message = String(cString: strerror(errno))
            sawEOF = true
            if buffer.isEmpty { throw .io("read(): \(message)") }
            break
        }
        return splitLines()
    }

    private func splitLines() -> [Data] {
        var lines: [Data] = []
        var start = 0
        var index = scanFrom
        while index < buffer.count {
            if buffer[index] == 0x0A {
                if index > start { lines.append(Data(buffer[start..<index])) }
                start = index + 1
            }
            index += 1
        }
        if start > 0 { buffer.removeFirst(start) }
        scanFrom = buffer.count
        return lines
    }

    private func writeAll(_ bytes: [UInt8]) throws(ControlClientError) {
        var offset = 0
        while offset < bytes.count {
            // send(MSG_NOSIGNAL): a daemon that went away must be an error here, not a SIGPIPE that kills us.
            let n = bytes.withUnsafeBytes { send(fileDescriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                var pfd = pollfd(fd: fileDescriptor, events: Int16(POLLOUT), revents: 0)
                if poll(&pfd, 1, 5000) == 0 { throw .timeout }
                continue
            }
            let message = n < 0 ? String(cString: strerror(errno)) : "short write"
            close()
            throw .io("write to the daemon failed: \(message)")
        }
    }
}
