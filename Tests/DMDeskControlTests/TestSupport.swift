import DMDeskControl
import DMDeskCore
import Foundation
import Glibc
import Logging
import Synchronization
import Testing

enum TestClientError: Error, Equatable {
    case connectFailed(Int32)
    case timedOut
    case endOfStream
    case sendFailed(Int32)
}

/// A minimal client over a real Unix socket: blocking connect, line reader with deadlines.
final class TestClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private(set) var sawEndOfStream = false

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let code = errno
            Glibc.close(fd)
            throw TestClientError.connectFailed(code)
        }
    }

    deinit { Glibc.close(fd) }

    /// The connection still answers, and in order: a status request with this id gets the next reply.
    func expectAnswers(id: String) throws {
        try sendLine(#"{"id":"\#(id)","type":"status"}"#)
        #expect(try readJSON()["id"]?.stringValue == id)
    }

    func send(_ text: String) throws {
        try sendBytes(Array(text.utf8))
    }

    func sendLine(_ text: String) throws {
        try send(text + "\n")
    }

    func sendBytes(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestClientError.sendFailed(errno)
            }
            offset += n
        }
    }

    func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// The next line without its newline; throws `.endOfStream` on EOF and `.timedOut` at the deadline.
    func readLine(timeout: Duration = .seconds(10)) throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                if start > 1 << 20 {
                    buffer.removeFirst(start)
                    start = 0
                }
                return line
            }
            if sawEndOfStream { throw TestClientError.endOfStream }
            let remaining = deadline - .now
            if remaining <= .zero { throw TestClientError.timedOut }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            let ready = poll(&pfd, 1, ms)
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 256 * 1024)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                sawEndOfStream = true
                continue
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    func readJSON(timeout: Duration = .seconds(10)) throws -> JSONValue {
        try JSONValue.parse(Data(readLine(timeout: timeout).utf8))
    }

    /// Every remaining line up to EOF.
    func readUntilEndOfStream(timeout: Duration = .seconds(10)) throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        var lines: [String] = []
        while true {
            do {
                lines.append(try readLine(timeout: deadline - .now))
            } catch TestClientError.endOfStream {
                return lines
            }
        }
    }

    /// Reads the hello line and subscribes; returns the subscribe reply.
    @discardableResult
    func subscribe(id: Int = 1, since: Int64? = nil) throws -> JSONValue {
        if let since {
            try sendLine(#"{"id":\#(id),"type":"subscribe","since":\#(since)}"#)
        } else {
            try sendLine(#"{"id":\#(id),"type":"subscribe"}"#)
        }
        return try readJSON()
    }
}

/// A stand-in for the daemon: an in-memory journal and a few request types.
final class StubService: ControlService {
    private let events = Mutex<[JournalEvent]>([])
    /// Called after every journal query has read its page, with `after` and the page size (to
    /// simulate commits racing a replay).
    let journalQueryHook = Mutex<(@Sendable (_ after: Int64, _ returned: Int) -> Void)?>(nil)
    let journalQueries = Atomic<Int>(0)

    func helloLine() -> ServerLine {
        .hello(daemon: "test-daemon", account: "acct-1", listener: "127.0.0.1:0")
    }

    func handle(_ request: ControlRequest) async -> Result<JSONValue, ControlError> {
        switch request.type {
        case "status":
            return .success(["ok": true])
        case "send":
            guard let thread = request.thread, thread != "missing" else {
                return .failure(.notFound("no such thread"))
            }
            return .success(["thread": .string(thread), "text_bytes": .number(Double(request.text?.utf8.count ?? 0))])
        case "threads":
            // Slow on purpose: events must keep flowing while a request is being answered.
            try? await Task.sleep(for: .milliseconds(400))
            return .success(["threads": []])
        default:
            return .failure(ControlError(code: "unsupported", message: request.type))
        }
    }

    func journal(after seq: Int64, limit: Int) throws -> [JournalEvent] {
        journalQueries.add(1, ordering: .relaxed)
        let page = events.withLock { events in Array(events.lazy.filter { $0.seq > seq }.prefix(limit)) }
        let hook = journalQueryHook.withLock { $0 }
        hook?(seq, page.count)
        return page
    }

    /// What the daemon does: commit to the journal, then publish.
    func commit(_ seqs: ClosedRange<Int64>, to bus: EventBus) {
        let batch = seqs.map(makeEvent)
        events.withLock { $0.append(contentsOf: batch) }
        bus.publish(batch)
    }
}

func makeEvent(_ seq: Int64) -> JournalEvent {
    JournalEvent(
        seq: seq, type: EventType.messageReceived, thread: "t1", data: ["text": .string("message \(seq)")],
        at: 1_700_000_000_000 + seq)
}

/// A temp directory short enough for sun_path (108 bytes), removed by `cleanUp`.
func makeTempDirectory() -> String {
    var template = Array("/tmp/dmdc.XXXXXX".utf8CString)
    let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(result != nil, "mkdtemp failed")
    return String(cString: template)
}

/// A running server on a fresh socket path, with a stub service and its bus.
final class Fixture {
    let directory: String
    let path: String
    let bus = EventBus()
    let service = StubService()
    let server: ControlServer

    init(options: ControlServer.Options = .init(), socketPath: ((String) -> String)? = nil, start: Bool = true) throws {
        directory = makeTempDirectory()
        path = socketPath?(directory) ?? directory + "/run/dmdesk.sock"
        var logger = Logger(label: "dmdesk.control.test")
        logger.logLevel = .critical
        server = ControlServer(path: path, service: service, bus: bus, logger: logger, options: options)
        if start { try server.start() }
    }

    /// Connects and consumes the hello line.
    func connect() throws -> TestClient {
        let client = try TestClient(path: path)
        let hello = try client.readJSON()
        guard hello["type"]?.stringValue == "hello" else { throw TestClientError.endOfStream }
        return client
    }

    /// A new connection is answered: a status request gets an ok.
    func expectServing() throws {
        let client = try connect()
        try client.sendLine(#"{"id":1,"type":"status"}"#)
        #expect(try client.readJSON()["type"]?.stringValue == "ok")
    }

    /// Creates the socket's directory (0700), as a previous run left it, for a fixture made with `start: false`.
    @discardableResult
    func makeSocketDirectory() throws -> String {
        let socketDirectory = (path as NSString).deletingLastPathComponent
        try #require(mkdir(socketDirectory, 0o700) == 0)
        return socketDirectory
    }

    func cleanUp() {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Polls `condition` until it holds or the deadline passes; returns whether it held.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}

/// The `seq` of an event line without a full JSON parse (keys are sorted, so `"seq":` is unique
/// outside `data`, and test data never contains it).
func eventSeq(_ line: String) -> Int64? {
    guard line.contains(#""type":"event""#), let range = line.range(of: #""seq":"#) else { return nil }
    let digits = line[range.upperBound...].prefix { $0.isNumber }
    return Int64(digits)
}

func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return info.st_mode & 0o7777
}
