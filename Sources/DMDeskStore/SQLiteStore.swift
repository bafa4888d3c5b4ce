import DMDeskCore
import Foundation
import GRDB
import Synchronization

/// The embedded engine: SQLite in WAL mode through GRDB. Writes are serialised on GRDB's writer queue; reads run
/// beside them on its reader connections.
///
/// The `InboxStore` methods go through GRDB's `await` API, so their work runs on GRDB's own queues and never blocks
/// a cooperative-pool thread; a task cancelled before its write commits gets `CancellationError` and commits
/// nothing. `blocking` runs the same work synchronously on the calling thread (for the daemon's own threads). Every
/// statement lives in this module: `pool` is internal.
public final class SQLiteStore: InboxStore, Sendable {
    public let path: String
    /// The data directory (the database's, and what `diskSpace()` measures).
    public let directory: String
    let pool: DatabasePool
    public let writeHealth = WriteHealth()
    /// The active rules, compiled once per change (see `RuleCache`).
    let ruleCache = RuleCache()
    private let checkpointer = Mutex<WALCheckpointer?>(nil)
    private let quickChecker = Mutex<(checker: QuickChecker, interval: Duration)?>(nil)
    private let quickCheck = Mutex(QuickCheckResult())
    /// Backups in progress (`Backup.swift`): RESTART checkpoints wait while any runs.
    let backupsRunning = Mutex(0)
    /// The data directory's shared lock, held while the store is open: a restore cannot replace the database under it.
    private let directoryLock: Mutex<DataDirectoryLock?>

    /// The database file in a data directory.
    static func databasePath(in dataDir: String) -> String { dataDir + "/dmdesk.sqlite" }

    /// Opens (creating if needed) `<dataDir>/dmdesk.sqlite` and migrates it. Blocks while it does: call it before the
    /// store is shared, from start-up code.
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
        guard let lock = try DataDirectoryLock(directory: dataDir, exclusive: false) else {
            throw .cannotOpen(path: Self.databasePath(in: dataDir), reason: "a restore is replacing it; try again once `dmdesk restore` has finished")
        }
        directoryLock = Mutex(lock)
        directory = dataDir
        path = Self.databasePath(in: dataDir)
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // WAL + NORMAL: a commit is in the OS before we answer, so it survives kill -9 of the daemon.
            // secure_delete: what an unsend erases is overwritten, not left in free pages of the file.
            try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON")
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

    public var blocking: any BlockingInboxStore { SQLiteBlockingStore(store: self) }

    public func close() async throws {
        // Stopping the background threads waits for them, and closing the pool waits for its queues: on a thread of
        // its own, off the cooperative pool.
        try await onOwnThread(named: "dmdesk-close") { [self] in
            stopIntegrityChecks()
            stopBackgroundCheckpoints()
            try pool.close()
            directoryLock.withLock { $0 = nil }
        }
    }

    deinit {
        checkpointer.withLock { $0?.stop(wait: false) }
        quickChecker.withLock { $0?.checker.stop(wait: false) }
    }

    // MARK: - integrity checks off the writer

    /// `PRAGMA quick_check` every `interval` on its own connection and thread (see `QuickChecker`); the last
    /// result is `quickCheckResult`. The first check runs now.
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
                let c = try WALCheckpointer(path: path, restartAllowed: { [weak self] in self?.restartCheckpointsAllowed ?? true })
                // Queued on the writer, ahead of any later write; the caller does not wait for it.
                pool.asyncWriteWithoutTransaction { db in
                    try? db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.writerFallbackPages)")
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
        pool.asyncWriteWithoutTransaction { db in try? db.execute(sql: "PRAGMA wal_autocheckpoint = 1000") }
    }

    // MARK: - reads and writes

    /// A read on one of GRDB's reader connections (a snapshot), awaited.
    func read<T: Sendable>(_ value: @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(value)
    }

    /// One transaction on GRDB's writer, awaited; its outcome is reported to `writeHealth` under `path`.
    func write<T: Sendable>(_ path: WritePath, _ updates: @Sendable (Database) throws -> T) async throws -> T {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await pool.write(updates)) } catch { outcome = .failure(error) }
        return try reported(path, outcome)
    }

    /// `pool.writeWithoutTransaction`, awaited, its outcome reported to `writeHealth` under `path`.
    func writeWithoutTransaction<T: Sendable>(_ path: WritePath, _ updates: @Sendable (Database) throws -> T) async throws -> T {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await pool.writeWithoutTransaction(updates)) } catch { outcome = .failure(error) }
        return try reported(path, outcome)
    }

    /// Writes many items in one transaction, each in its own savepoint (see `Database.eachInSavepoint`), awaited.
    /// Results come back in item order; when the unit fails as a whole, every item fails with its error.
    func writeEach<Item: Sendable, Output: Sendable>(
        _ items: [Item], as path: WritePath, _ body: @escaping @Sendable (Item, Database) throws -> Output
    ) async -> [Result<Output, any Error>] {
        guard !items.isEmpty else { return [] }
        do { return reported(path, try await pool.writeWithoutTransaction { db in try db.eachInSavepoint(items, body) }) } catch {
            return reported(path, failing: items.count, error)
        }
    }

    /// The synchronous twins of the helpers above, for `blocking` (the caller's thread waits; never async code).
    func readBlocking<T>(_ value: (Database) throws -> T) throws -> T { try pool.read(value) }

    func writeBlocking<T>(_ path: WritePath, _ updates: (Database) throws -> T) throws -> T {
        try reported(path, Result { try pool.write(updates) })
    }

    func writeWithoutTransactionBlocking<T>(_ path: WritePath, _ updates: (Database) throws -> T) throws -> T {
        try reported(path, Result { try pool.writeWithoutTransaction(updates) })
    }

    func writeEachBlocking<Item, Output>(
        _ items: [Item], as path: WritePath, _ body: (Item, Database) throws -> Output
    ) -> [Result<Output, any Error>] {
        guard !items.isEmpty else { return [] }
        do { return reported(path, try pool.writeWithoutTransaction { db in try db.eachInSavepoint(items, body) }) } catch {
            return reported(path, failing: items.count, error)
        }
    }

    /// A write's outcome, reported to `writeHealth` under `path` (only storage failures count as failures).
    private func reported<T>(_ path: WritePath, _ outcome: Result<T, any Error>) throws -> T {
        switch outcome {
        case .success(let value):
            writeHealth.recordSuccess(path)
            return value
        case .failure(let error):
            writeHealth.record(path, thrown: error)
            throw error
        }
    }

    /// A group commit's outcome: any item that failed in the storage fails the write.
    private func reported<Output>(_ path: WritePath, _ results: [Result<Output, any Error>]) -> [Result<Output, any Error>] {
        writeHealth.record(path, results)
        return results
    }

    /// A group commit that failed as a whole: every item fails with its error.
    private func reported<Output>(_ path: WritePath, failing count: Int, _ error: any Error) -> [Result<Output, any Error>] {
        writeHealth.record(path, thrown: error)
        return Array(repeating: .failure(error), count: count)
    }

    // MARK: - counts

    public func counts() async throws -> StoreCounts {
        try await read { db in
            StoreCounts(
                threads: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM threads") ?? 0,
                messages: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0,
                pendingOutbound: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbound_messages WHERE status IN ('pending','sending')") ?? 0,
                events: try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0)
        }
    }

    // MARK: - journal

    /// Appends an event to the journal inside the caller's transaction and returns it with its `seq`.
    static func journal(_ db: Database, type: String, thread: String?, data: JSONValue, at: EpochMillis = nowMillis())
        throws -> JournalEvent
    {
        let payload = data.compactString  // JSONValue's one writer (JSONWriter.swift), as for socket lines and Redis
        try db.cachedStatement(sql: "INSERT INTO events(type, thread_id, payload, at) VALUES (?, ?, ?, ?)")
            .execute(arguments: [type, thread, payload, at])
        return JournalEvent(seq: db.lastInsertedRowID, type: type, thread: thread, data: data, at: at)
    }

    static func journal(after seq: Int64, limit: Int, db: Database) throws -> [JournalEvent] {
        try EventRecord.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?"), arguments: [seq, limit]
        ).map(\.journalEvent)
    }

    static func lastSeq(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM events") ?? 0
    }

    public func journal(after seq: Int64, limit: Int) async throws -> [JournalEvent] {
        try await read { db in try Self.journal(after: seq, limit: limit, db: db) }
    }

    public func lastSeq() async throws -> Int64 {
        try await read { db in try Self.lastSeq(db) }
    }

    public func appendEvent(type: String, thread: String?, data: JSONValue) async throws -> JournalEvent {
        try await write(.other) { db in try Self.journal(db, type: type, thread: thread, data: data) }
    }

    // MARK: - threads

    static let summarySQL = """
        SELECT t.id, p.username, p.name, t.mode, t.status, t.assignee, t.unread, t.awaiting_operator, t.last_text,
               t.last_message_at, t.last_inbound_at, p.connected, t.snoozed_until, t.snooze_ended_at
        FROM threads t LEFT JOIN profiles p ON p.id = t.id
        """

    static func threadSummary(_ db: Database, id: String) throws -> ThreadSummary? {
        try ThreadSummary.fetchOne(db.cachedStatement(sql: summarySQL + " WHERE t.id = ?"), arguments: [id])
    }

    public func thread(_ id: String) async throws -> ThreadSummary? {
        try await read { db in try Self.threadSummary(db, id: id) }
    }

    public func threads(_ filter: ThreadFilter) async throws -> [ThreadSummary] {
        var clauses: [String] = []
        var args: [(any DatabaseValueConvertible)?] = []
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
        let query = sql
        let arguments = StatementArguments(args)
        return try await read { db in try ThreadSummary.fetchAll(db, sql: query, arguments: arguments) }
    }

    public func updateThread(_ id: String, _ change: @escaping @Sendable (inout ThreadRecord) -> Void) async throws
        -> (ThreadSummary, JournalEvent?)
    {
        try await write(.commands) { db in
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

    public func wakeSnoozed(dueBy now: EpochMillis) async throws -> [(ThreadSummary, JournalEvent)] {
        try await write(.commands) { db in
            let due = try String.fetchAll(
                db, sql: "SELECT id FROM threads WHERE status = 'snoozed' AND snoozed_until IS NOT NULL AND snoozed_until <= ?",
                arguments: [now])
            return try due.map { id in
                try db.execute(
                    sql: """
                        UPDATE threads SET status = 'open', snoozed_until = NULL, snooze_ended_at = ?, updated_at = ?
                        WHERE id = ?
                        """, arguments: [now, nowMillis(), id])
                let summary = try Self.threadSummary(db, id: id)!
                return (summary, try Self.journal(db, type: EventType.threadUpdated, thread: id, data: .from(summary)))
            }
        }
    }

    public func nextSnoozeEnd() async throws -> EpochMillis? {
        try await read { db in
            try EpochMillis.fetchOne(
                db, sql: "SELECT MIN(snoozed_until) FROM threads WHERE status = 'snoozed' AND snoozed_until IS NOT NULL")
        }
    }

    // MARK: - messages

    public func history(thread: String, before: EpochMillis?, limit: Int) async throws -> [MessageView] {
        try await read { db in
            let rows = try MessageRecord.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT * FROM messages WHERE thread_id = ? AND timestamp < ?
                        ORDER BY timestamp DESC, rowid DESC LIMIT ?
                        """),
                arguments: [thread, before ?? Int64.max, limit])
            let quotes = try Self.quotes(of: rows.compactMap(\.reply_to_mid), db: db)
            return rows.reversed().map { $0.view(quote: $0.reply_to_mid.flatMap { quotes[$0] }) }
        }
    }

    public func message(mid: String) async throws -> MessageRecord? {
        try await read { db in try MessageRecord.fetchOne(db, key: mid) }
    }

    public func search(_ query: MessageSearch) async throws -> [SearchHit] {
        try await read { db in try FullTextIndex.search(query, db: db) }
    }

    public func purgeRemovedFromSearch() async throws -> Bool {
        let purged = try await write(.other) { db in try FullTextIndex.mergeAway(db) }
        // The old index pages are overwritten in the database (secure_delete); the WAL's copies go with a checkpoint.
        if purged { _ = try? await writeWithoutTransaction(.other, Self.truncateWAL) }
        return purged
    }
}

/// `SQLiteStore.blocking`: the same work on the calling thread.
struct SQLiteBlockingStore: BlockingInboxStore {
    let store: SQLiteStore

    func ingest(_ deliveries: [[WebhookEvent]], options: IngestOptions) -> [Result<IngestOutcome, any Error>] {
        let results = store.writeEachBlocking(deliveries, as: .ingest) { events, db in try SQLiteStore.ingest(events, db: db, options: options) }
        if SQLiteStore.erasedAny(results) { try? store.pool.writeWithoutTransaction(SQLiteStore.truncateWAL) }
        return results
    }

    func claimAndComplete(
        threads: [String], now: EpochMillis, finishing sends: [OutboundResult], marking marks: [Int64],
        plan: @escaping @Sendable (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) throws -> ReplyTick {
        try store.writeWithoutTransactionBlocking(.replies) { db in
            try store.tick(db, threads: threads, now: now, finishing: sends, marking: marks, plan: plan)
        }
    }

    func failBatch(
        thread: String, mids: [String], error: String, now: EpochMillis, maxAttempts: Int, backoffBaseMillis: EpochMillis
    ) throws -> BatchFailure {
        try store.writeBlocking(.replies) { db in
            try SQLiteStore.failBatch(
                db, thread: thread, mids: mids, error: error, now: now, maxAttempts: maxAttempts,
                backoffBaseMillis: backoffBaseMillis)
        }
    }

    func journal(after seq: Int64, limit: Int) throws -> [JournalEvent] {
        try store.readBlocking { db in try SQLiteStore.journal(after: seq, limit: limit, db: db) }
    }

    func search(_ query: MessageSearch) throws -> [SearchHit] {
        try store.readBlocking { db in try FullTextIndex.search(query, db: db) }
    }

    func lastSeq() throws -> Int64 {
        try store.readBlocking { db in try SQLiteStore.lastSeq(db) }
    }

    func journalBounds() throws -> JournalBounds {
        try store.readBlocking { db in try SQLiteStore.journalBounds(db) }
    }
}

/// The background thread of `SQLiteStore.startBackgroundCheckpoints()`.
final class WALCheckpointer: @unchecked Sendable {
    /// The writer checkpoints by itself only past this many WAL pages (SQLite's default is 1000).
    static let writerFallbackPages = 8000
    /// Past this many pages the WAL is restarted (a RESTART checkpoint briefly waits for the writer), so the
    /// file stays bounded even if PASSIVE checkpoints never catch up with a writer that never pauses.
    static let restartPages = 16000
    static let intervalMs = 20

    private let queue: DatabaseQueue
    /// False while a backup's long read runs: a RESTART would hold the write lock waiting for it.
    private let restartAllowed: @Sendable () -> Bool
    private let condition = NSCondition()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(path: String, restartAllowed: @escaping @Sendable () -> Bool) throws {
        self.restartAllowed = restartAllowed
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
                if log > Self.restartPages && restartAllowed() {
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
