import DMDeskCore
import Foundation
import GRDB
import Synchronization

public enum StoreError: Error, CustomStringConvertible, Equatable {
    case dataDirectoryUnusable(path: String, reason: String)
    case cannotOpen(path: String, reason: String)
    case notFound(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .dataDirectoryUnusable(let path, let reason): return "data directory \(path) is not usable: \(reason)"
        case .cannotOpen(let path, let reason): return "cannot open database \(path): \(reason)"
        case .notFound(let what): return "\(what) not found"
        case .invalid(let why): return why
        }
    }
}

/// The durable record: SQLite in WAL mode. Writes are serialised by GRDB; reads run beside them.
public final class Store: Sendable {
    public let path: String
    /// The data directory (the database's, and what `diskSpace()` measures).
    public let directory: String
    public let pool: DatabasePool
    /// The outcome of the last write, as the write helpers report it.
    public let writeHealth = WriteHealth()
    private let checkpointer = Mutex<WALCheckpointer?>(nil)
    private let quickChecker = Mutex<(checker: QuickChecker, interval: Duration)?>(nil)
    private let quickCheck = Mutex(QuickCheckResult())

    public init(dataDir: String) throws(StoreError) {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .dataDirectoryUnusable(path: dataDir, reason: Self.reason(error))
        }
        guard fm.isWritableFile(atPath: dataDir) else {
            throw .dataDirectoryUnusable(path: dataDir, reason: "not writable by this user")
        }
        directory = dataDir
        path = dataDir + "/dmdesk.sqlite"
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // WAL + NORMAL: a commit is in the OS before we answer, so it survives kill -9 of the daemon.
            try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Schema.migrator.migrate(pool)
        } catch {
            throw .cannotOpen(path: path, reason: Self.reason(error))
        }
    }

    static func reason(_ error: Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        if let e = error as? CocoaError, let u = e.userInfo[NSUnderlyingErrorKey] as? Error { return "\(u.localizedDescription)" }
        return error.localizedDescription
    }

    public func close() throws {
        stopIntegrityChecks()
        stopBackgroundCheckpoints()
        try pool.close()
    }

    deinit {
        checkpointer.withLock { $0?.stop(wait: false) }
        quickChecker.withLock { $0?.checker.stop(wait: false) }
    }

    // MARK: - integrity checks off the writer

    /// Starts `PRAGMA quick_check` every `interval` on its own connection and thread (see `QuickChecker`); the
    /// last result is `quickCheckResult`. The first check runs now.
    public func startIntegrityChecks(every interval: Duration) {
        quickChecker.withLock { current in
            guard current == nil else { return }
            let checker = QuickChecker(path: path, interval: interval) { [weak self] result in
                self?.quickCheck.withLock { $0 = result }
            }
            checker.start()
            current = (checker, interval)
        }
    }

    public func stopIntegrityChecks() {
        guard let running = quickChecker.withLock({ c -> (checker: QuickChecker, interval: Duration)? in defer { c = nil }; return c })
        else { return }
        running.checker.stop(wait: true)
    }

    /// The last quick_check's result (`pending` until the first finishes, or when checks are off).
    public var quickCheckResult: QuickCheckResult { quickCheck.withLock { $0 } }

    var quickCheckInterval: Duration? { quickChecker.withLock { $0?.interval } }

    // MARK: - WAL checkpoints off the writer

    /// SQLite checkpoints the WAL on the connection that commits, once the WAL passes `wal_autocheckpoint` pages:
    /// that commit then also fsyncs the WAL, copies pages into the database file and fsyncs it. For the ingest
    /// writer that is a stall every few hundred batches. While this is on, a background thread with its own
    /// connection runs PASSIVE checkpoints every few milliseconds (they never block the writer), and the writer's
    /// own threshold is raised to `WALCheckpointer.writerFallbackPages` — still a bound, should the background
    /// thread fall behind. synchronous stays NORMAL: a commit is in the OS before it returns, as before.
    public func startBackgroundCheckpoints() {
        checkpointer.withLock { current in
            guard current == nil else { return }
            do {
                let c = try WALCheckpointer(path: path)
                try pool.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.writerFallbackPages)")
                }
                c.start()
                current = c
            } catch {
                // No background checkpoints: the writer keeps checkpointing by itself.
            }
        }
    }

    public func stopBackgroundCheckpoints() {
        guard let c = checkpointer.withLock({ c -> WALCheckpointer? in defer { c = nil }; return c }) else { return }
        c.stop(wait: true)
        try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 1000") }
    }

    // MARK: - health and counts

    public struct Counts: Sendable, Codable, Equatable {
        public var threads: Int
        public var messages: Int
        public var pendingOutbound: Int
        public var events: Int64
    }

    public func counts() throws -> Counts {
        try pool.read { db in
            Counts(
                threads: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM threads") ?? 0,
                messages: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0,
                pendingOutbound: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbound_messages WHERE status IN ('pending','sending')") ?? 0,
                events: try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0)
        }
    }

    /// A cheap query that fails when the database file is unusable.
    public func check() -> String? {
        do {
            _ = try pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            return nil
        } catch {
            return Self.reason(error)
        }
    }

    // MARK: - journal

    /// Appends an event to the journal inside the caller's transaction and returns it with its `seq`. The payload
    /// is written by JSONValue's one writer (JSONFastPath.swift), as socket lines and Redis entries are.
    public static func journal(_ db: Database, type: String, thread: String?, data: JSONValue, at: EpochMillis = nowMillis())
        throws -> JournalEvent
    {
        let payload = data.compactString
        try db.cachedStatement(sql: "INSERT INTO events(type, thread_id, payload, at) VALUES (?, ?, ?, ?)")
            .execute(arguments: [type, thread, payload, at])
        return JournalEvent(seq: db.lastInsertedRowID, type: type, thread: thread, data: data, at: at)
    }

    public func journal(after seq: Int64, limit: Int) throws -> [JournalEvent] {
        try pool.read { db in
            try EventRecord.fetchAll(
                db, sql: "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]
            ).map(\.journalEvent)
        }
    }

    public func lastSeq() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0 }
    }

    // MARK: - threads

    static let summarySQL = """
        SELECT t.id, p.username, p.name, t.mode, t.status, t.assignee, t.unread, t.awaiting_operator, t.last_text,
               t.last_message_at, t.last_inbound_at, p.connected
        FROM threads t LEFT JOIN profiles p ON p.id = t.id
        """

    static func summary(_ row: Row) -> ThreadSummary {
        ThreadSummary(
            id: row[0], username: row[1], name: row[2], mode: ThreadMode(rawValue: row[3]) ?? .auto,
            status: ThreadStatus(rawValue: row[4]) ?? .open, assignee: row[5], unread: row[6], awaitingOperator: row[7],
            lastText: row[8], lastAt: row[9], lastInboundAt: row[10], connected: (row[11] as Bool?) ?? false)
    }

    public static func threadSummary(_ db: Database, id: String) throws -> ThreadSummary? {
        try Row.fetchOne(db.cachedStatement(sql: summarySQL + " WHERE t.id = ?"), arguments: [id]).map(summary)
    }

    public func thread(_ id: String) throws -> ThreadSummary? {
        try pool.read { db in try Self.threadSummary(db, id: id) }
    }

    public struct ThreadFilter: Sendable {
        public var mode: ThreadMode?
        public var status: ThreadStatus?
        public var unreadOnly: Bool
        public var search: String?
        public var limit: Int
        public init(mode: ThreadMode? = nil, status: ThreadStatus? = nil, unreadOnly: Bool = false, search: String? = nil, limit: Int = 50_000) {
            self.mode = mode
            self.status = status
            self.unreadOnly = unreadOnly
            self.search = search
            self.limit = limit
        }
    }

    public func threads(_ filter: ThreadFilter = ThreadFilter()) throws -> [ThreadSummary] {
        var clauses: [String] = []
        var args: [DatabaseValueConvertible?] = []
        if let mode = filter.mode {
            clauses.append("t.mode = ?")
            args.append(mode.rawValue)
        }
        if let status = filter.status {
            clauses.append("t.status = ?")
            args.append(status.rawValue)
        }
        if filter.unreadOnly { clauses.append("t.unread > 0") }
        if let search = filter.search, !search.isEmpty {
            let like = "%" + search.replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
            clauses.append("(t.id LIKE ? ESCAPE '\\' OR p.username LIKE ? ESCAPE '\\' OR p.name LIKE ? ESCAPE '\\' OR t.last_text LIKE ? ESCAPE '\\')")
            args += [like, like, like, like]
        }
        var sql = Self.summarySQL
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY t.last_message_at DESC, t.id LIMIT ?"
        args.append(filter.limit)
        let arguments = StatementArguments(args)
        return try pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.summary) }
    }

    /// Changes a thread's columns and journals `thread.updated`, in one transaction.
    public func updateThread(_ id: String, _ change: @Sendable (inout ThreadRecord) -> Void) throws -> (ThreadSummary, JournalEvent?) {
        try write(.commands) { db in
            guard var record = try ThreadRecord.fetchOne(db, key: id) else { throw StoreError.notFound("thread \(id)") }
            let before = record
            change(&record)
            guard record != before else { return (try Self.threadSummary(db, id: id)!, nil) }
            record.updated_at = nowMillis()
            try record.update(db)
            let summary = try Self.threadSummary(db, id: id)!
            let event = try Self.journal(db, type: EventType.threadUpdated, thread: id, data: .from(summary))
            return (summary, event)
        }
    }

    // MARK: - messages

    public func history(thread: String, before: EpochMillis? = nil, limit: Int = 200) throws -> [MessageView] {
        try pool.read { db in
            let rows = try MessageRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM messages WHERE thread_id = ? AND timestamp < ?
                    ORDER BY timestamp DESC, rowid DESC LIMIT ?
                    """,
                arguments: [thread, before ?? Int64.max, limit])
            return rows.reversed().map(\.view)
        }
    }

    public func message(mid: String) throws -> MessageRecord? {
        try pool.read { db in try MessageRecord.fetchOne(db, key: mid) }
    }
}

/// The background thread of `Store.startBackgroundCheckpoints()`.
final class WALCheckpointer: @unchecked Sendable {
    /// The writer checkpoints by itself only past this many WAL pages (SQLite's default is 1000).
    static let writerFallbackPages = 8000
    /// Past this many pages the WAL is restarted (a RESTART checkpoint briefly waits for the writer), so the
    /// file stays bounded even if PASSIVE checkpoints never catch up with a writer that never pauses.
    static let restartPages = 16000
    static let intervalMs = 20

    private let queue: DatabaseQueue
    private let condition = NSCondition()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(2)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        queue = try DatabaseQueue(path: path, configuration: config)
    }

    func start() {
        thread = Thread.start(named: "dmdesk-ckpt") { [self] in self.loop() }
    }

    func stop(wait: Bool) {
        condition.lock()
        let running = thread != nil && !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        if running && wait { done.wait() }
    }

    private func loop() {
        while true {
            condition.lock()
            if !stopping { _ = condition.wait(until: Date().addingTimeInterval(Double(Self.intervalMs) / 1000)) }
            let stop = stopping
            condition.unlock()
            if stop { break }
            do {
                let (log, _) = try queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                if log > Self.restartPages {
                    _ = try queue.writeWithoutTransaction { db in try db.checkpoint(.restart) }
                }
            } catch {
                // Busy (another checkpoint is running) or the file is gone: try again next time.
            }
        }
        try? queue.close()
        done.signal()
    }
}

extension Store {
    /// Writes many items in one transaction, each in its own savepoint: one bad item is rolled back alone while the
    /// batch shares a single commit (ingest, outbox results, reply batches). Results come back in item order. If
    /// the commit fails, or a rollback does, or SQLite rolled the whole transaction back by itself after an item's
    /// error (SQLITE_FULL, SQLITE_IOERR: see `Database.rollbackItem`), every item fails and nothing is committed;
    /// the error then is the item's own (it says why), so write health counts it.
    func writeEach<Item, Output>(_ items: [Item], as path: WritePath = .other, _ body: (Item, Database) throws -> Output) -> [Result<Output, Error>] {
        guard !items.isEmpty else { return [] }
        var results: [Result<Output, Error>] = []
        results.reserveCapacity(items.count)
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction {
                    // Cached statements: GRDB's `inSavepoint` prepares them anew for every item.
                    let begin = try db.cachedStatement(sql: "SAVEPOINT dmdesk_item")
                    let release = try db.cachedStatement(sql: "RELEASE SAVEPOINT dmdesk_item")
                    let rollback = try db.cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT dmdesk_item")
                    for item in items {
                        try begin.execute()
                        do {
                            let output = try body(item, db)
                            try release.execute()
                            results.append(.success(output))
                        } catch {
                            try db.rollbackItem(after: error, rollback: rollback, release: release)
                            results.append(.failure(error))
                        }
                    }
                    return .commit
                }
            }
        } catch {
            writeHealth.record(path, thrown: error)
            return items.map { _ in .failure(error) }
        }
        writeHealth.record(path, results)
        return results
    }
}
