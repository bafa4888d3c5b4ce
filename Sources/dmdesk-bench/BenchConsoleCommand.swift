import ArgumentParser
import DMDeskCore
@_spi(Tools) import DMDeskStore
import DMDeskDemo
import Foundation
import GRDB
import Glibc

/// Hidden helpers for scripts/bench-console: fill a data directory with a realistic inbox, and time the console
/// in tmux (launch to first frame; webhook POST to text on screen) through one tmux control-mode client, so each
/// screen poll is a pipe round trip rather than a fork+exec of `tmux capture-pane`.
struct BenchConsoleToolsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "Console benchmark helpers (used by scripts/bench-console).",
        subcommands: [BenchPopulateCommand.self, BenchFirstFrameCommand.self, BenchLatencyCommand.self, BenchSearchCommand.self,
                       BenchConsoleSearchCommand.self])
}

// MARK: - populate

/// Writes `threads` customers and `messages` messages through the store's ingest (the daemon's own write path),
/// in large group-committed batches. Timestamps fall in the last 23 hours, so every 24-hour window is open.
/// Then gives every customer a name and username (as the profile fetcher would have), marks the history as
/// already processed (so the reply processor has nothing to catch up on), turns most echoes into bot replies
/// and leaves about one thread in five unread. Prints the newest threads, one `id<TAB>display name` a line.
struct BenchPopulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "populate", abstract: "Fill a data directory.")

    @Option(help: "Customers (threads).") var threads: Int = 10_000
    @Option(help: "Messages in all (customers' and ours).") var messages: Int = 200_000
    @Option(name: .customLong("into"), help: "The data directory to fill (created; --data-dir belongs to the root command).")
    var dataDir: String
    @Option(help: "Messages per group commit.") var batch: Int = 5_000
    @Option(help: "Random seed (the same seed gives the same inbox).") var seed: UInt64 = 42
    @Option(help: "Print this many of the newest threads.") var top: Int = 5

    func validate() throws {
        guard threads > 0, messages >= threads else { throw ValidationError("need --threads > 0 and --messages >= --threads") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    static let customerTexts = [
        "Hi! Is the blue one still available?", "How much is shipping to Lyon?", "do you ship internationally",
        "What sizes do you have for the linen shirt?", "Where is my order? It's been 5 days 😕",
        "Can I pay on delivery?", "hello 👋", "Is there a discount for two?", "thanks!! ❤️",
        "My order number is #48213, can you check?", "Do you have this in black?", "ok perfect 👍",
        "Can I talk to a person please", "The zip broke after one week, what can I do?",
        "Are you open on Sunday?", "price?", "Is it real leather?", "I'd like to return it",
        "Could you send me the size chart", "Love your new collection 😍", "When will it be back in stock?",
        "Can I change the delivery address?", "how long does delivery take to Berlin",
        "Do you do gift wrapping? 🎁", "is the 20% code still valid", "Bonjour, vous livrez en Belgique ?",
        "¿Tienen envío a Madrid?", "これは日本に発送できますか？", "Got it, thank you so much 🙏",
        "I replied to your story, is that dress available in M?",
    ]
    static let replyTexts = [
        "Hi! Yes, it's in stock in all sizes 😊", "Shipping to France is €6.90, free over €80.",
        "We ship worldwide — 3 to 7 working days.", "Your order left our warehouse yesterday, tracking: DHL 0034 8812.",
        "Yes, cash on delivery is available in the EU.", "Thanks for your message! A teammate will answer shortly.",
        "Here's our size chart: https://example.shop/sizes", "You can return anything within 30 days.",
        "It's back in stock next Tuesday!", "Done — the address is updated.", "Glad to help! 🙌",
        "Our shop is open Monday to Saturday, 10:00–19:00.",
    ]
    static let firstNames = [
        "Maya", "Lucas", "Sofia", "Noah", "Amira", "Leo", "Chloe", "Mateo", "Hana", "Elias", "Zoe", "Omar", "Ines",
        "Yuki", "Priya", "Jonas", "Lina", "Diego", "Aisha", "Felix", "Nora", "Ravi", "Elena", "Tom",
    ]
    static let lastNames = [
        "Koh", "Martin", "Rossi", "Dubois", "Haddad", "Silva", "Novak", "Tanaka", "Okafor", "Berg", "Moreau",
        "Garcia", "Schmidt", "Costa", "Kim", "Nguyen", "Ali", "Larsen", "Weber", "Ivanova",
    ]

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let store: SQLiteStore
        do { store = try SQLiteStore(dataDir: dataDir) } catch { throw ValidationError("cannot open the store: \(error)") }
        var rng = SplitMix64(seed: seed)
        let now = nowMillis()
        let span: EpochMillis = 23 * 3_600_000
        let account = WebhookBuilder.accountId
        func customer(_ i: Int) -> String { String(17_900_000_000_000_000 + i) }

        let started = Date()
        var pending: [JSONValue] = []
        pending.reserveCapacity(batch)
        var stored = 0
        func flush() async throws {
            guard !pending.isEmpty else { return }
            let body = WebhookBuilder.envelope(items: pending)
            pending.removeAll(keepingCapacity: true)
            let delivery: WebhookDelivery
            do { delivery = try WebhookParser.parse(body) } catch { throw ValidationError("parse: \(error)") }
            // One delivery per event (each in its own savepoint, as the listener does), all in one commit.
            let results = await store.ingest(delivery.events.map { [$0] }, options: IngestOptions(echoTakeover: false))
            for case .failure(let error) in results { throw ValidationError("ingest: \(error)") }
            stored += delivery.events.count
        }
        for i in 0..<messages {
            // Every customer gets a message; the rest go to a skewed few (some customers talk a lot).
            let thread: Int
            if i < threads {
                thread = i
            } else {
                let u = Double(rng.next() % 1_000_000) / 1_000_000
                thread = min(threads - 1, Int(u * u * Double(threads)))
            }
            let timestamp = now - span + EpochMillis(rng.next() % UInt64(span - 60_000))
            let ours = rng.next() % 100 < 35
            var text = ours
                ? Self.replyTexts[Int(rng.next() % UInt64(Self.replyTexts.count))]
                : Self.customerTexts[Int(rng.next() % UInt64(Self.customerTexts.count))]
            // Order numbers differ, as they do: something a search finds in one message, not thousands.
            if text.contains("#48213") {
                text = text.replacingOccurrences(of: "#48213", with: "#\(10_000 + rng.next() % 90_000)")
            }
            let id = customer(thread)
            var message: [String: JSONValue] = ["mid": .string("m_pop_\(i)"), "text": .string(text)]
            if ours { message["is_echo"] = true }
            pending.append(.object([
                "sender": ["id": .string(ours ? account : id)], "recipient": ["id": .string(ours ? id : account)],
                "timestamp": .number(Double(timestamp)), "message": .object(message),
            ]))
            if pending.count >= batch { try await flush() }
        }
        try await flush()

        // What the profile fetcher and the processor would have done by now, straight in SQL (a tool's shortcut).
        var profiles: [(id: String, name: String, username: String)] = []
        for i in 0..<threads {
            let first = Self.firstNames[Int(rng.next() % UInt64(Self.firstNames.count))]
            let last = Self.lastNames[Int(rng.next() % UInt64(Self.lastNames.count))]
            profiles.append((customer(i), "\(first) \(last)", "\(first).\(last)\(i)".lowercased()))
        }
        let named = profiles
        try await store.toolsWrite { db in
            var statement = try db.makeStatement(
                sql: "UPDATE profiles SET name = ?, username = ?, profile_fetched_at = ?, updated_at = ? WHERE id = ?")
            for p in named {
                try statement.execute(arguments: [p.name, p.username, now, now, p.id])
            }
            statement = try db.makeStatement(sql: "UPDATE messages SET status = 'processed' WHERE direction = 'in'")
            try statement.execute()
            try db.execute(sql: "UPDATE messages SET author = 'bot' WHERE direction = 'out' AND abs(random()) % 10 < 8")
            try db.execute(sql: "UPDATE threads SET unread = 0 WHERE abs(random()) % 5 != 0")
        }
        let counts = try await store.counts()
        let seconds = Date().timeIntervalSince(started)
        FileHandle.standardError.write(Data(String(
            format: "populate: %d threads, %d messages stored in %.1fs (%d sent to ingest)\n",
            counts.threads, counts.messages, seconds, stored).utf8))
        for summary in try await store.threads(ThreadFilter(limit: top)) {
            print("\(summary.id)\t\(summary.displayName)")
        }
        try await store.close()
    }
}

// MARK: - time

func benchMonotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func benchPercentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    // nearest-rank
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

// MARK: - tmux control mode

/// One `tmux -C` client: commands go in as lines, each answer comes back between `%begin` and `%end`/`%error`.
/// Notifications outside those blocks are skipped.
final class TmuxControl {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer: [UInt8] = []
    private var readFD: Int32 { output.fileHandleForReading.fileDescriptor }

    init(socketName: String, session: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A path is a socket (`tmux -S`), anything else a socket name (`tmux -L`).
        process.arguments = ["tmux", socketName.contains("/") ? "-S" : "-L", socketName, "-C", "attach-session", "-t", session]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Anything the attach itself prints comes first; a marker command tells us where it ends.
        let lines = try command("display-message -p bench-console-ready")
        guard lines.contains("bench-console-ready") else { throw ValidationError("tmux control mode did not answer") }
    }

    deinit {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }

    /// Runs one tmux command and returns its output lines; throws on `%error` or a closed pipe.
    @discardableResult
    func command(_ line: String, timeout: Double = 10) throws -> [String] {
        let bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(input.fileHandleForWriting.fileDescriptor, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw ValidationError("tmux control pipe closed") }
            written += n
        }
        let deadline = benchMonotonicSeconds() + timeout
        var inBlock = false
        var out: [String] = []
        while true {
            let next = try readLine(deadline: deadline)
            if !inBlock {
                // `%begin <time> <number> <flags>`: flags 1 marks the answer to a command this client sent
                // (the attach itself is answered with flags 0 first).
                if next.hasPrefix("%begin "), next.split(separator: " ").last == "1" { inBlock = true; out.removeAll() }
                if next.hasPrefix("%exit") { throw ValidationError("tmux control client exited") }
                continue
            }
            if next.hasPrefix("%end ") { return out }
            if next.hasPrefix("%error ") { throw ValidationError("tmux: \(line): \(out.joined(separator: " "))") }
            out.append(next)
        }
    }

    private func readLine(deadline: Double) throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let left = deadline - benchMonotonicSeconds()
            if left <= 0 { throw ValidationError("tmux control mode timed out") }
            var pfd = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            let rc = poll(&pfd, 1, Int32(max(1, left * 1000)))
            if rc < 0 && errno == EINTR { continue }
            if rc <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = read(readFD, &chunk, chunk.count)
            if n <= 0 { throw ValidationError("tmux control client closed") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    func capture(_ target: String) throws -> [String] { try command("capture-pane -p -t \(target)") }
}

/// Single-quotes for tmux's command parser (and then the shell it hands a command string to).
func tmuxQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

func sleepMicroseconds(_ us: Int) {
    var request = timespec(tv_sec: us / 1_000_000, tv_nsec: (us % 1_000_000) * 1000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

// MARK: - first-frame

/// Starts a command in fresh tmux sessions and times, from the `new-session` request, until `--expect` is on
/// screen, and then until `--full-expect` is. Prints one line per run: `first_frame_ms=<ms> full_list_ms=<ms|none>
/// pid=<pane pid>` (the last session is left running with `--keep-last`, else each is killed).
struct BenchFirstFrameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "first-frame", abstract: "Time launch to first frame.")

    @Option(name: .customLong("tmux-socket"), help: "tmux socket: a path (-S) or a name (-L); its server has --control-session.")
    var tmuxSocket: String
    @Option(name: .customLong("control-session"), help: "The session the control client attaches to.")
    var controlSession: String = "keep"
    @Option(help: "The shell command to start (exec'd).") var command: String
    @Option(help: "Text whose appearance counts as the first frame.") var expect: String
    @Option(name: .customLong("full-expect"), help: "Text that shows the whole list has loaded (timed too, optional).")
    var fullExpect: String?
    @Option(help: "Runs.") var runs: Int = 5
    @Option(help: "Session name prefix.") var session: String = "ff"
    @Option(help: "Columns.") var cols: Int = 120
    @Option(help: "Rows.") var rows: Int = 40
    @Option(name: .customLong("poll-us"), help: "Pause between screen polls (µs).") var pollMicroseconds: Int = 1000
    @Option(name: .customLong("timeout-ms"), help: "Give up on one run after this long.") var timeoutMilliseconds: Int = 20_000
    @Flag(name: .customLong("keep-last"), help: "Leave the last session running (for RSS and the latency run).")
    var keepLast = false

    func run() throws {
        let tmux = try TmuxControl(socketName: tmuxSocket, session: controlSession)
        for run in 1...runs {
            let name = "\(session)\(run)"
            let start = benchMonotonicSeconds()
            try tmux.command(
                "new-session -d -s \(name) -x \(cols) -y \(rows) \(tmuxQuote("exec " + command))")
            var elapsed = -1.0
            let deadline = start + Double(timeoutMilliseconds) / 1000
            while benchMonotonicSeconds() < deadline {
                let screen = (try? tmux.capture(name)) ?? []
                if screen.contains(where: { $0.contains(expect) }) {
                    elapsed = (benchMonotonicSeconds() - start) * 1000
                    break
                }
                sleepMicroseconds(pollMicroseconds)
            }
            var full = "none"
            if elapsed >= 0, let fullExpect {
                full = "timeout"
                while benchMonotonicSeconds() < deadline {
                    let screen = (try? tmux.capture(name)) ?? []
                    if screen.contains(where: { $0.contains(fullExpect) }) {
                        full = String(format: "%.1f", (benchMonotonicSeconds() - start) * 1000)
                        break
                    }
                    sleepMicroseconds(pollMicroseconds)
                }
            }
            let pid = (try? tmux.command("display-message -p -t \(name) '#{pane_pid}'").first) ?? "?"
            if elapsed < 0 {
                let screen = (try? tmux.capture(name)) ?? []
                FileHandle.standardError.write(Data(("first-frame: '\(expect)' never appeared; screen:\n" + screen.joined(separator: "\n") + "\n").utf8))
                print("first_frame_ms=timeout full_list_ms=none pid=\(pid)")
            } else {
                print(String(format: "first_frame_ms=%.1f full_list_ms=%@ pid=%@", elapsed, full, pid))
            }
            fflush(nil)
            if !(keepLast && run == runs) {
                _ = try? tmux.command("kill-session -t \(name)")
                sleepMicroseconds(200_000)  // let the old console exit before the next one starts
            }
        }
    }
}

// MARK: - latency

/// A keep-alive HTTP/1.1 connection to 127.0.0.1 (raw socket: nothing between the clock and the wire).
final class LoopbackHTTP {
    private var fd: Int32 = -1
    let port: UInt16

    init(port: UInt16) throws {
        self.port = port
        try connect()
    }

    deinit { if fd >= 0 { close(fd) } }

    private func connect() throws {
        if fd >= 0 { close(fd) }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("socket() failed") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw ValidationError("cannot connect to 127.0.0.1:\(port)") }
    }

    /// POSTs and returns the status code (reconnecting once if the server closed the idle connection).
    func post(path: String, body: Data, headers: [(String, String)]) throws -> Int {
        do { return try postOnce(path: path, body: body, headers: headers) } catch {
            try connect()
            return try postOnce(path: path, body: body, headers: headers)
        }
    }

    private func postOnce(path: String, body: Data, headers: [(String, String)]) throws -> Int {
        var request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "Content-Length: \(body.count)\r\n\r\n"
        var bytes = Array(request.utf8)
        bytes.append(contentsOf: body)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw ValidationError("send failed") }
            written += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { throw ValidationError("connection closed") }
            response.append(contentsOf: chunk[..<n])
            guard let end = findHeaderEnd(response) else { continue }
            let head = String(decoding: response[..<end], as: UTF8.self).lowercased()
            let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            if let lengthLine = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
               let length = Int(lengthLine.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            {
                if response.count - (end + 4) >= length { return status }
            } else if head.contains("transfer-encoding: chunked") {
                if response.count >= 5, Array(response.suffix(5)) == Array("0\r\n\r\n".utf8) { return status }
            } else {
                return status
            }
        }
    }

    private func findHeaderEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        return nil
    }
}

/// Posts `count` signed webhooks one at a time, each carrying a unique token, and times POST start → token in
/// `capture-pane` of the target pane. Targets: mostly existing customers (their row jumps to the top of the list),
/// every 10th the thread open in the console, every 50th a new customer. Prints `BENCH key=value …` and writes
/// each sample (ms) to `--out`.
struct BenchLatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "latency", abstract: "Time webhook POST to text on screen.")

    @Option(name: .customLong("tmux-socket")) var tmuxSocket: String
    @Option(name: .customLong("control-session")) var controlSession: String = "keep"
    @Option(help: "The pane to watch (tmux target).") var target: String
    @Option(name: .customLong("webhook-port"), help: "The daemon's webhook port on 127.0.0.1.") var port: UInt16
    @Option(help: "INSTAGRAM_APP_SECRET of the daemon.") var secret: String
    @Option(help: "Existing customers (thread ids), one a line.") var threads: String
    @Option(name: .customLong("open-thread"), help: "The thread open in the console.") var openThread: String?
    @Option(help: "Messages.") var count: Int = 1000
    @Option(help: "Token prefix (distinct per run, letters only).") var prefix: String = "QX"
    @Option(help: "Write samples (ms), one a line.") var out: String
    @Option(name: .customLong("poll-us"), help: "Pause between screen polls (µs).") var pollMicroseconds: Int = 1000
    @Option(name: .customLong("gap-ms"), help: "Pause after each message is seen.") var gapMilliseconds: Int = 20
    @Option(name: .customLong("timeout-ms"), help: "Give up on one message after this long.") var timeoutMilliseconds: Int = 3000
    @Option(help: "Random seed for the choice of threads.") var seed: UInt64 = 7

    func run() throws {
        let ids = try String(contentsOfFile: threads, encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
        guard !ids.isEmpty else { throw ValidationError("no thread ids in \(threads)") }
        let tmux = try TmuxControl(socketName: tmuxSocket, session: controlSession)
        let http = try LoopbackHTTP(port: port)
        var rng = SplitMix64(seed: seed)
        var samples: [Double] = []
        var postMs: [Double] = []
        var polls = 0
        var pollTime = 0.0
        var timeouts = 0
        var non200 = 0
        // A capture RTT measured up front, for the report.
        for _ in 0..<50 { _ = try tmux.capture(target) }
        let texts = BenchPopulateCommand.customerTexts
        for i in 0..<count {
            let token = String(format: "%@%05dZ", prefix, i)
            let thread: String
            if i % 50 == 49 {
                thread = String(17_990_000_000_000_000 + Int(rng.next() % 1_000_000_000))
            } else if i % 10 == 0, let openThread {
                thread = openThread
            } else {
                thread = ids[Int(rng.next() % UInt64(ids.count))]
            }
            let text = token + " " + texts[Int(rng.next() % UInt64(texts.count))]
            let body = WebhookBuilder.textMessage(from: thread, text: text, mid: "m_lat_\(prefix)_\(i)", timestamp: nowMillis())
            let signature = WebhookBuilder.sign(body, secret: secret)
            let start = benchMonotonicSeconds()
            let status = try http.post(path: "/webhooks/instagram", body: body, headers: [("X-Hub-Signature-256", signature)])
            postMs.append((benchMonotonicSeconds() - start) * 1000)
            if status != 200 { non200 += 1 }
            let deadline = start + Double(timeoutMilliseconds) / 1000
            var seen = false
            while benchMonotonicSeconds() < deadline {
                let t0 = benchMonotonicSeconds()
                let screen = try tmux.capture(target)
                pollTime += benchMonotonicSeconds() - t0
                polls += 1
                if screen.contains(where: { $0.contains(token) }) { seen = true; break }
                sleepMicroseconds(pollMicroseconds)
            }
            if seen { samples.append((benchMonotonicSeconds() - start) * 1000) } else { timeouts += 1 }
            sleepMicroseconds(gapMilliseconds * 1000)
        }
        try samples.map { String(format: "%.3f", $0) }.joined(separator: "\n").appending("\n").write(toFile: out, atomically: true, encoding: .utf8)
        let sorted = samples.sorted()
        let posts = postMs.sorted()
        print(String(
            format: "BENCH n=%d timeouts=%d non200=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f post_p50_ms=%.2f post_p99_ms=%.2f capture_ms=%.3f polls_per_msg=%.1f",
            samples.count, timeouts, non200, benchPercentile(sorted, 50), benchPercentile(sorted, 90), benchPercentile(sorted, 99),
            sorted.last ?? .nan, sorted.isEmpty ? .nan : sorted.reduce(0, +) / Double(sorted.count),
            benchPercentile(posts, 50), benchPercentile(posts, 99), polls > 0 ? pollTime / Double(polls) * 1000 : .nan,
            Double(polls) / Double(max(count, 1))))
    }
}
