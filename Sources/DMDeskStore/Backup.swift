import DMDeskCore
import Foundation
import GRDB
import Synchronization

// Backups and restores of the SQLite database.
//
// A backup is `VACUUM INTO` on a connection of its own: one read transaction, so the copy is one consistent
// snapshot, and in WAL mode a reader never blocks the writers. What a long read does block is a checkpoint that
// waits for readers: the background checkpointer's RESTART holds the write lock while it waits, so it is held
// off while a backup runs (PASSIVE checkpoints go on). The copy is written beside its destination, opened and
// checked (`PRAGMA integrity_check`), synced, and only then renamed into place.
//
// A restore needs the data directory to itself: every store takes a shared lock on `<data dir>/dmdesk.lock` while
// open, a restore takes it exclusively, so neither can start while the other runs.

public enum BackupError: Error, CustomStringConvertible, Equatable {
    case destinationExists(String)
    case cannotWrite(path: String, reason: String)
    case notADatabase(path: String, reason: String)
    case damaged(path: String, problems: [String])
    case newerSchema(path: String, unknown: [String])
    case dataDirectoryInUse(String)

    public var description: String {
        switch self {
        case .destinationExists(let path): return "\(path) already exists; choose a new file name (backups never overwrite)"
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)"
        case .notADatabase(let path, let reason): return "\(path) is not a dmdesk database: \(reason)"
        case .damaged(let path, let problems):
            return "\(path) failed its integrity check: \(problems.prefix(3).joined(separator: "; "))"
        case .newerSchema(let path, let unknown):
            return "\(path) was written by a newer dmdesk (unknown migrations: \(unknown.joined(separator: ", "))); restore it with that version"
        case .dataDirectoryInUse(let dir):
            return "a dmdesk daemon (or console) is using the data directory \(dir); stop it first (systemctl stop dmdesk, or quit the console), then restore"
        }
    }
}

/// What a backup contains, read back from the file itself.
public struct BackupReport: Sendable, Codable, Equatable {
    public var path: String
    public var bytes: Int64
    /// The newest journal `seq` in it: every event up to this one is in the backup.
    public var lastSeq: Int64
    public var threads: Int
    public var messages: Int
    /// `PRAGMA integrity_check`'s answer ("ok").
    public var integrity: String
}

/// What `restore` did.
public struct RestoreReport: Sendable, Equatable {
    public var restored: BackupReport
    /// Where the database it replaced was moved to (nil: there was none).
    public var previous: String?
}

/// `close(2)`, out of reach of `SQLiteStore.close()` inside its extensions.
private func closeDescriptor(_ fd: Int32) { close(fd) }

/// The data directory's lock: shared by every open store, exclusive for a restore. `flock` locks belong to the
/// open file, so they go when the process does, however it ends.
final class DataDirectoryLock: Sendable {
    static let fileName = "dmdesk.lock"
    private let descriptor: Int32

    /// Nil when the lock is held the other way.
    init?(directory: String, exclusive: Bool) throws(StoreError) {
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .dataDirectoryUnusable(path: directory, reason: "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        descriptor = fd
    }

    deinit { close(descriptor) }
}

extension SQLiteStore {
    /// While a backup runs, the background checkpointer does not RESTART the WAL (see the top of this file).
    var restartCheckpointsAllowed: Bool { backupsRunning.withLock { $0 == 0 } }

    public func backup(to destination: String) async throws -> BackupReport {
        // VACUUM INTO reads the whole database: seconds for a large one, on a thread of its own.
        try await onOwnThread(named: "dmdesk-backup") { [self] in try backupBlocking(to: destination) }
    }

    func backupBlocking(to destination: String) throws -> BackupReport {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: destination) else { throw BackupError.destinationExists(destination) }
        let partial = destination + ".partial-\(getpid())"
        try? fm.removeItem(atPath: partial)
        backupsRunning.withLock { $0 += 1 }
        defer { backupsRunning.withLock { $0 -= 1 } }
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            let source = try DatabaseQueue(path: path, configuration: config)
            defer { try? source.close() }
            try source.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [partial]) }
        } catch {
            try? fm.removeItem(atPath: partial)
            throw BackupError.cannotWrite(path: destination, reason: Self.reason(error))
        }
        do {
            var report = try Self.inspectDatabase(at: partial)
            try Self.syncFile(partial)
            // link() rather than rename(): it fails instead of replacing a file that appeared meanwhile.
            guard link(partial, destination) == 0 else {
                throw errno == EEXIST
                    ? BackupError.destinationExists(destination)
                    : BackupError.cannotWrite(path: destination, reason: String(cString: strerror(errno)))
            }
            try? fm.removeItem(atPath: partial)
            Self.syncDirectory(of: destination)
            report.path = destination
            return report
        } catch {
            try? fm.removeItem(atPath: partial)
            throw error
        }
    }

    /// Opens a database file read-only and checks it is a whole dmdesk database this version can open.
    public static func inspectDatabase(at path: String) throws(BackupError) -> BackupReport {
        guard FileManager.default.fileExists(atPath: path) else { throw .notADatabase(path: path, reason: "no such file") }
        do {
            var config = Configuration()
            config.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: config)
            defer { try? queue.close() }
            return try queue.read { db throws -> BackupReport in
                let problems = try String.fetchAll(db, sql: "PRAGMA integrity_check(20)")
                guard problems == ["ok"] else { throw BackupError.damaged(path: path, problems: problems) }
                guard try db.tableExists("grdb_migrations"), try db.tableExists("events"), try db.tableExists("threads") else {
                    throw BackupError.notADatabase(path: path, reason: "it has no dmdesk tables")
                }
                let known = Set(Schema.migrator.migrations)
                let unknown = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations").filter { !known.contains($0) }
                guard unknown.isEmpty else { throw BackupError.newerSchema(path: path, unknown: unknown) }
                return BackupReport(
                    path: path, bytes: Int64((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0),
                    lastSeq: try lastSeq(db), threads: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM threads") ?? 0,
                    messages: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0, integrity: "ok")
            }
        } catch let error as BackupError {
            throw error
        } catch {
            throw .notADatabase(path: path, reason: reason(error))
        }
    }

    /// Replaces the database in `dataDir` with the backup at `file`, with no store open on it (refused otherwise).
    /// The backup is checked before anything is touched, and its copy again before it goes in; the database it
    /// replaces (with its WAL) is moved aside, never deleted.
    public static func restore(from file: String, dataDir: String, now: Date = Date()) throws -> RestoreReport {
        try? FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard let lock = try DataDirectoryLock(directory: dataDir, exclusive: true) else {
            throw BackupError.dataDirectoryInUse(dataDir)
        }
        defer { withExtendedLifetime(lock) {} }
        _ = try inspectDatabase(at: file)
        let fm = FileManager.default
        let live = databasePath(in: dataDir)
        let incoming = live + ".restoring"
        try? fm.removeItem(atPath: incoming)
        do { try fm.copyItem(atPath: file, toPath: incoming) } catch {
            throw BackupError.cannotWrite(path: incoming, reason: reason(error))
        }
        var restored: BackupReport
        do {
            restored = try inspectDatabase(at: incoming)
            try syncFile(incoming)
        } catch {
            try? fm.removeItem(atPath: incoming)
            throw error
        }
        var previous: String?
        if fm.fileExists(atPath: live) {
            let stamp = DateFormatter()
            stamp.dateFormat = "yyyyMMdd-HHmmss"
            stamp.timeZone = TimeZone(identifier: "UTC")
            let aside = live + ".before-restore-" + stamp.string(from: now)
            // The WAL may hold committed transactions (a daemon that died): it goes with its database.
            for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: live + suffix) {
                guard rename(live + suffix, aside + suffix) == 0 else {
                    throw BackupError.cannotWrite(path: aside + suffix, reason: String(cString: strerror(errno)))
                }
            }
            previous = aside
        }
        guard rename(incoming, live) == 0 else { throw BackupError.cannotWrite(path: live, reason: String(cString: strerror(errno))) }
        syncDirectory(of: live)
        restored.path = file
        return RestoreReport(restored: restored, previous: previous)
    }

    static func syncFile(_ path: String) throws(BackupError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { closeDescriptor(fd) }
        guard fsync(fd) == 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
    }

    /// A rename is durable once its directory is synced.
    static func syncDirectory(of path: String) {
        let fd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        closeDescriptor(fd)
    }
}
