import Foundation
import Glibc

/// A plain TCP connection to the listener, for what HTTP clients will not send: nothing at all, half a request,
/// a body one byte at a time, framing they would not choose. Blocking calls; run them with `onThread`.
final class RawConnection: @unchecked Sendable {
    private(set) var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .ECONNREFUSED)
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Returns false once the daemon has closed the connection (MSG_NOSIGNAL: an error, not a SIGPIPE).
    @discardableResult
    func send(_ text: String) -> Bool { send(Data(text.utf8)) }

    @discardableResult
    func send(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Whether the daemon has closed its end (EOF or reset), without blocking. Unread response bytes count as open.
    var closedByPeer: Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if n == 0 { return true }
        if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false
    }

    /// Reads until the daemon closes the connection. `closed` is false if `safetyNet` seconds passed first — the
    /// test's way to fail instead of hanging, not a timing claim.
    func readToEnd(safetyNet: Int = 10) -> (text: String, closed: Bool) {
        var timeout = timeval(tv_sec: safetyNet, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                out.append(contentsOf: buffer[0..<n])
                continue
            }
            let closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
            return (String(decoding: out, as: UTF8.self), closed)
        }
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// Reads one response (head and a Content-Length body); nil if the connection closed or stalled first.
    func readResponse(safetyNet: Int = 10) -> Response? {
        var timeout = timeval(tv_sec: safetyNet, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = data.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                let statusLine = head[0].split(separator: " ")
                var headers: [String: String] = [:]
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                let body = data[end.upperBound...]
                if body.count >= length, statusLine.count >= 2, let status = Int(statusLine[1]) {
                    return Response(status: status, headers: headers, body: String(decoding: body.prefix(length), as: UTF8.self))
                }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            data.append(contentsOf: buffer[0..<n])
        }
    }
}
