import DMDeskCore
import Foundation
import GRDB
import Synchronization

// What the store knows about itself, for /health and the console's status bar: whether the last write worked,
// what the last `PRAGMA quick_check` found, and how much room the data directory has left. A `SELECT 1` that
// succeeds says little: reads go on working while every write fails (disk full), and pages can be scribbled on
// without the pages we happen to read noticing.

/// What a write was for. Each kind keeps its own last outcome, so a small write that happens to fit (a status
/// event, a claim that updates rows in place) cannot hide that every delivery fails to be stored.
public enum WritePath: String, Sendable, CaseIterable {
    /// Webhook deliveries.
    case ingest
    /// The processor: claims, reply batches, failed batches, the agent's steps.
    case replies
    /// Outbox rows: queued, retried, their send results.
    case outbox
    /// Operators' commands over the control socket.
    case commands
    /// Everything else: status events, profiles, tokens, rules.
    case other
}

/// The outcome of the store's writes, as its write helpers (`write`, `writeWithoutTransaction`, `writeEach`)
/// report them. Only failures of the storage itself count (disk full, I/O error, corruption, read-only file,
/// busy past the timeout); a write the caller rolled back on purpose, or a constraint it broke, says nothing
/// about the store. A kind of write is failing while its most recent write failed; its next success clears it.
/// A kind that rarely writes (an operator's command) would otherwise stay failing long after the disk has room
/// again, so a failure also stops counting once it is `staleAfterMs` old and writes of other kinds have worked
/// since.
public final class WriteHealth: Sendable {
    public static let staleAfterMs: EpochMillis = 300_000

    public struct Outcome: Sendable, Equatable {
        public var failing = false
        public var lastSuccessAt: EpochMillis?
        public var lastFailureAt: EpochMillis?
        /// The most recent failure's reason (kept after recovery, with its time).
        public var lastError: String?
        /// Storage failures since start.
        public var failures = 0
    }

    public struct Snapshot: Sendable, Equatable {
        public var paths: [WritePath: Outcome] = [:]

        /// The kinds of write whose last attempt failed, and not so long ago that others have worked since.
        public func failingPaths(at now: EpochMillis) -> [WritePath] {
            let lastSuccess = lastSuccessAt ?? 0
            return WritePath.allCases.filter { path in
                guard let o = paths[path], o.failing, let failed = o.lastFailureAt else { return false }
                return now - failed < WriteHealth.staleAfterMs || lastSuccess <= failed
            }
        }
        public var failingPaths: [WritePath] { failingPaths(at: nowMillis()) }
        public var failing: Bool { !failingPaths.isEmpty }
        public var lastSuccessAt: EpochMillis? { paths.values.compactMap(\.lastSuccessAt).max() }
        public var lastFailureAt: EpochMillis? { paths.values.compactMap(\.lastFailureAt).max() }
        public var failures: Int { paths.values.map(\.failures).reduce(0, +) }
        /// The newest failure's reason, preferring one that is still failing.
        public var lastError: String? {
            let candidates = failing ? failingPaths.compactMap { paths[$0] } : Array(paths.values)
            return candidates.filter { $0.lastFailureAt != nil }.max { $0.lastFailureAt! < $1.lastFailureAt! }?.lastError
        }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func recordSuccess(_ path: WritePath, at now: EpochMillis = nowMillis()) {
        state.withLock { s in
            s.paths[path, default: Outcome()].failing = false
            s.paths[path, default: Outcome()].lastSuccessAt = now
        }
    }

    public func recordFailure(_ path: WritePath, _ reason: String, at now: EpochMillis = nowMillis()) {
        state.withLock { s in
            var outcome = s.paths[path, default: Outcome()]
            outcome.failing = true
            outcome.lastFailureAt = now
            outcome.lastError = reason
            outcome.failures += 1
            s.paths[path] = outcome
        }
    }

    /// A write threw: a storage failure is recorded; anything else (the caller's own error) is not an outcome.
    public func record(_ path: WritePath, thrown error: Error) {
        if Self.isStorageFailure(error) { recordFailure(path, SQLiteStore.reason(error)) }
    }

    /// A group commit: any item that failed in the storage fails the write; otherwise it worked.
    func record<Output>(_ path: WritePath, _ results: [Result<Output, Error>]) {
        for case .failure(let error) in results where Self.isStorageFailure(error) {
            recordFailure(path, SQLiteStore.reason(error))
            return
        }
        recordSuccess(path)
    }

    /// SQLite's own errors, except a constraint violation (a row the caller should not have written) and an
    /// interrupted statement (a cancelled task's write: it says nothing about the store).
    public static func isStorageFailure(_ error: Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode != .SQLITE_CONSTRAINT && error.resultCode != .SQLITE_INTERRUPT
    }
}

/// The cached result of the periodic `PRAGMA quick_check`.
public struct QuickCheckResult: Sendable, Equatable {
    public enum Status: String, Sendable { case pending, ok, failed }
    public var status: Status = .pending
    public var checkedAt: EpochMillis?
    public var durationMs: Int?
    /// The first problems SQLite named (or the error that stopped the check).
    public var problems: [String] = []
    /// How many problems it named, up to `QuickChecker.maxProblems`.
    public var problemCount = 0
}

/// Free space where the database lives (statvfs), as an unprivileged process can use it.
public struct DiskSpace: Sendable, Equatable {
    public var freeBytes: UInt64
    public var totalBytes: UInt64
}

/// Everything the store can say about its health at one moment.
public struct StoreHealthReport: Sendable {
    /// Why a plain read failed, if it did.
    public var readError: String?
    public var writes: WriteHealth.Snapshot
    public var quickCheck: QuickCheckResult
    public var quickCheckIntervalMs: Int?
    public var disk: DiskSpace?
    public var minFreeBytes: UInt64
    /// Where `disk` was measured (the data directory).
    public var diskPath: String
    /// The database's size on disk (main file and WAL), in bytes.
    public var databaseBytes: Int64 = 0

    public var diskLow: Bool { disk.map { $0.freeBytes < minFreeBytes } ?? false }

    /// As /health names it (`rawValue`) and as the console's status bar shows it (`label`).
    public enum Verdict: String, Sendable {
        case up, down, corrupt
        case writesFailing = "failing"
        case lowDisk = "low_disk"

        public var label: String {
            switch self {
            case .up, .down, .corrupt: return rawValue
            case .writesFailing: return "writes failing"
            case .lowDisk: return "low disk"
            }
        }
    }

    /// One word for the console and `status`; the first that applies, worst first.
    public var verdict: Verdict {
        if readError != nil { return .down }
        if quickCheck.status == .failed { return .corrupt }
        if writes.failing { return .writesFailing }
        if diskLow { return .lowDisk }
        return .up
    }

    /// Webhooks cannot be stored (or what is stored cannot be trusted): /health answers 503.
    public var unusable: Bool { [.down, .corrupt, .writesFailing].contains(verdict) }

    /// The reason behind a verdict other than `up`.
    public var reason: String? {
        switch verdict {
        case .up: return nil
        case .down: return readError
        case .corrupt: return quickCheck.problems.first ?? "quick_check failed"
        case .writesFailing: return writes.lastError
        case .lowDisk:
            let free = disk?.freeBytes ?? 0
            return "\(free / 1_048_576) MiB free in the data directory, under the \(minFreeBytes / 1_048_576) MiB minimum"
        }
    }
}

extension SQLiteStore {
    /// statvfs on the data directory; nil if it cannot be asked.
    public func diskSpace() -> DiskSpace? {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return nil }
        let unit = UInt64(info.f_frsize)
        return DiskSpace(freeBytes: UInt64(info.f_bavail) * unit, totalBytes: UInt64(info.f_blocks) * unit)
    }

    /// A cheap query that fails when the database file is unusable: why it failed, or nil.
    func check() async -> String? {
        do {
            _ = try await read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            return nil
        } catch {
            return Self.reason(error)
        }
    }

    public func healthReport(minFreeBytes: UInt64) async -> StoreHealthReport {
        StoreHealthReport(
            readError: await check(), writes: writeHealth.snapshot, quickCheck: quickCheckResult,
            quickCheckIntervalMs: quickCheckInterval.map { Int($0.milliseconds) }, disk: diskSpace(),
            minFreeBytes: minFreeBytes, diskPath: directory, databaseBytes: databaseBytes())
    }
}

/// Runs `PRAGMA quick_check` every `interval` on its own read-only connection and its own thread — never on the
/// writer, never on Swift's cooperative pool — and hands the result to the store's cache. The first runs at start.
final class QuickChecker: @unchecked Sendable {
    /// `quick_check(N)` stops after N problems; one is enough to fail, a few help the person reading the log.
    static let maxProblems = 100
    static let problemsKept = 5

    private let path: String
    private let interval: Duration
    private let publish: @Sendable (QuickCheckResult) -> Void
    private let condition = NSCondition()
    private var stopping = false
    private var running = false
    private let done = DispatchSemaphore(value: 0)

    init(path: String, interval: Duration, publish: @escaping @Sendable (QuickCheckResult) -> Void) {
        self.path = path
        self.interval = interval
        self.publish = publish
    }

    func start() {
        running = true
        Thread.start(named: "dmdesk-qcheck") { [self] in self.loop() }
    }

    func stop(wait: Bool) {
        condition.lock()
        let wasRunning = running && !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        if wasRunning && wait { done.wait() }
    }

    private func loop() {
        while true {
            condition.lock()
            let stop = stopping
            condition.unlock()
            if stop { break }
            publish(check())
            condition.lock()
            if !stopping { _ = condition.wait(until: Date().addingTimeInterval(interval.seconds)) }
            condition.unlock()
        }
        done.signal()
    }

    /// One check on a connection opened for it: a connection kept open would answer later checks from its page
    /// cache, and never see pages that went bad on disk since.
    private func check() -> QuickCheckResult {
        let started = ContinuousClock.now
        var result = QuickCheckResult()
        do {
            let queue = try Self.open(path)
            defer { try? queue.close() }
            let rows = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(\(Self.maxProblems))") }
            if rows == ["ok"] {
                result.status = .ok
            } else {
                result.status = .failed
                result.problemCount = rows.count
                result.problems = Array(rows.prefix(Self.problemsKept))
            }
        } catch {
            // Not even opened or read through: that fails the check too.
            result.status = .failed
            result.problemCount = 1
            result.problems = [SQLiteStore.reason(error)]
        }
        result.checkedAt = nowMillis()
        result.durationMs = Int((ContinuousClock.now - started).milliseconds)
        return result
    }

    private static func open(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(2)
        return try DatabaseQueue(path: path, configuration: config)
    }
}
