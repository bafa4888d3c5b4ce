import ArgumentParser
import DMDeskCore
import DMDeskStore
import DMDeskDemo
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The tools scripts/bench-* drive; not part of what `dmdesk` ships.
@main
struct DMDeskBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmdesk-bench", abstract: "Benchmark tools for scripts/bench-ingest, bench-replies and bench-console.",
        subcommands: [
            BenchBodiesCommand.self, BenchNoopServerCommand.self, BenchStoreIngestCommand.self, BenchRepliesCommand.self,
            BenchConsoleToolsCommand.self,
        ])
}

/// Ends the tool with a message on stderr and exit status 1.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("dmdesk-bench: \(message)\n".utf8))
    exit(1)
}

/// Writes `count` distinct, correctly signed webhook deliveries, one a line: `sha256=<hex>` TAB `<body>`.
/// Each body is one text message with a unique mid from one of `senders` customers; the compact JSON
/// has no raw newlines, so a line is exactly one request.
struct BenchBodiesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bodies", abstract: "Generate signed webhook bodies for wrk.")

    @Option(help: "How many bodies.") var count: Int = 200_000
    @Option(help: "The app secret to sign with (INSTAGRAM_APP_SECRET of the daemon under test).") var secret: String
    @Option(help: "Output file.") var out: String
    @Option(help: "Distinct senders.") var senders: Int = 300
    @Option(help: "Prefix for mids and texts, so separate sets (warm-up, measurement, runs) never collide.")
    var prefix: String = "bench"

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard senders > 0 else { throw ValidationError("--senders must be positive") }
    }

    func run() throws {
        guard FileManager.default.createFile(atPath: out, contents: nil) else {
            throw ValidationError("cannot create \(out)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        defer { try? handle.close() }
        var chunk = Data()
        chunk.reserveCapacity(1 << 20)
        let base = nowMillis()
        for i in 0..<count {
            // 9-digit-ish numeric ids like Instagram-scoped ids; a few hundred distinct customers.
            let sender = String(1_790_000_000_000_000 + (i % senders))
            let body = WebhookBuilder.textMessage(
                from: sender, text: "\(prefix) message \(i) — hello, is this still available?",
                mid: "m_\(prefix)_\(i)", timestamp: base + EpochMillis(i))
            chunk.append(contentsOf: WebhookSignature.header(secret: secret, body: body).utf8)
            chunk.append(UInt8(ascii: "\t"))
            chunk.append(body)
            chunk.append(UInt8(ascii: "\n"))
            if chunk.count >= 1 << 20 {
                handle.write(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty { handle.write(chunk) }
    }
}

/// The reference point for the ingest benchmark: the same framework and build as the daemon, answering every
/// POST with 200 `EVENT_RECEIVED` after reading the whole body — no signature check, no parsing, no storage.
struct BenchNoopServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noop-server", abstract: "A no-op HTTP server for benchmark reference.")

    @Option(help: "Port to listen on (0: any free port, printed on stdout).") var port: Int = 0
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"

    func run() async throws {
        // The root command also declares --port and --host, and ArgumentParser hands a name both declare to
        // the root; read them back from the command line so `dmdesk bench noop-server --port N` does what it says.
        let port = Self.rawOption("port").flatMap(Int.init) ?? self.port
        let host = Self.rawOption("host") ?? self.host
        var logger = Logger(label: "dmdesk-bench-noop")
        logger.logLevel = .warning
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var request = request
            _ = try await request.collectBody(upTo: 1 << 20)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "EVENT_RECEIVED")))
        }
        for path in ["/webhooks/instagram", "/webhook", "/api/webhooks/instagram"] {
            router.post(RouterPath(path), use: handler)
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? 0
                print("listening on \(host):\(bound)")
                fflush(nil)
            },
            logger: logger)
        try await app.runService()
    }

    /// The value of `--name V` or `--name=V` given after the `noop-server` word, if any.
    static func rawOption(_ name: String) -> String? {
        let args = CommandLine.arguments
        guard let start = args.firstIndex(of: "noop-server") else { return nil }
        var i = start + 1
        var found: String?
        while i < args.count {
            if args[i] == "--" + name, i + 1 < args.count {
                found = args[i + 1]
                i += 1
            } else if args[i].hasPrefix("--" + name + "=") {
                found = String(args[i].dropFirst(name.count + 3))
            }
            i += 1
        }
        return found
    }
}

/// The writer thread's share of ingest, without HTTP: parses `count` bench deliveries up front, then stores them
/// with the store's ingest in batches of `batch` (the blocking form the daemon's writer thread uses) (and pushes their context to Redis when `--redis-port` is given), and
/// prints wall time and this thread's CPU time per delivery. For comparing changes to Ingest/Store/RedisContext.
struct BenchStoreIngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-ingest", abstract: "Time the store's ingest (+ Redis push) alone.")

    @Option(help: "How many deliveries.") var count: Int = 50_000
    @Option(help: "Deliveries per transaction.") var batch: Int = 32
    @Option(help: "Distinct senders.") var senders: Int = 300
    @Option(help: "Data directory (must not exist yet, or be empty).") var dir: String
    @Option(help: "A local redis-server port to push context to (none: SQLite only).") var redisPort: Int?

    func run() throws {
        let store = try SQLiteStore(dataDir: dir).blocking
        var logger = Logger(label: "dmdesk-bench-store")
        logger.logLevel = .warning
        let redis = redisPort.map { RedisContextStore(endpoint: RedisEndpoint(host: "127.0.0.1", port: $0), logger: logger) }
        let base = nowMillis()
        var deliveries: [[WebhookEvent]] = []
        deliveries.reserveCapacity(count)
        for i in 0..<count {
            let body = WebhookBuilder.textMessage(
                from: String(1_790_000_000_000_000 + (i % senders)), text: "store message \(i) — hello, is this still available?",
                mid: "m_store_\(i)", timestamp: base + EpochMillis(i))
            deliveries.append(try WebhookParser.parse(body).events)
        }
        func cpu() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        let wall0 = Date()
        let cpu0 = cpu()
        var stored = 0
        var start = 0
        while start < count {
            let chunk = Array(deliveries[start..<min(start + batch, count)])
            start += chunk.count
            var context: [ContextTurn] = []
            for case .success(let outcome) in store.ingest(chunk, options: IngestOptions()) {
                stored += outcome.storedMessages
                context += outcome.context
            }
            redis?.push(context)
        }
        let wall = Date().timeIntervalSince(wall0)
        let used = cpu() - cpu0
        print(String(format: "store-ingest: %d deliveries (%d stored), batch %d: %.1f us/delivery wall, %.1f us/delivery thread CPU, %.0f deliveries/s",
                     count, stored, batch, wall * 1e6 / Double(count), used * 1e6 / Double(count), Double(count) / wall))
    }
}
