import DMDeskCore
import Foundation
import GRDB

/// The transaction a unit of work ran in is gone: SQLite rolled it back by itself after an error (it may do so on
/// SQLITE_FULL, SQLITE_IOERR or SQLITE_NOMEM), or a savepoint could not be rolled back. Nothing of the unit was
/// committed, and nothing more of it may run: outside a transaction every further statement would commit on its
/// own (a later SAVEPOINT starts a new transaction and its RELEASE commits it), leaving half a unit on disk — an
/// outbox row for a batch whose messages were never marked answered, say, queued again by the next attempt.
public struct TransactionLost: Error, CustomStringConvertible {
    /// The error after which the transaction was found gone.
    public var cause: String
    public var description: String { "the transaction was rolled back after: \(cause)" }
}

extension Database {
    /// After an item of a batch failed inside a transaction: throws `TransactionLost` unless the transaction is
    /// still open, so the caller fails the whole unit instead of carrying on in autocommit mode.
    func requireOpenTransaction(after error: Error) throws {
        if error is TransactionLost { throw error }
        if !isInsideTransaction { throw TransactionLost(cause: Store.reason(error)) }
    }

    /// Rolls back to `savepoint` and releases it after a failed item; a failure to do either means the transaction
    /// is unusable, which fails the whole unit.
    func rollbackItem(after error: Error, rollback: Statement, release: Statement) throws {
        try requireOpenTransaction(after: error)
        do {
            try rollback.execute()
            try release.execute()
        } catch let failure {
            throw TransactionLost(cause: "\(Store.reason(error)); then rolling back its savepoint: \(Store.reason(failure))")
        }
    }
}

extension Store {
    /// SQLite could not write for a reason of its own (a full disk, an I/O error, no memory, a lock), not because of
    /// the data: the same work may well succeed later, so it must not count as the work's own failure.
    public static func isStorageFailure(_ error: Error) -> Bool {
        if error is TransactionLost { return true }
        guard let e = error as? DatabaseError else { return false }
        switch e.resultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_NOMEM, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_READONLY, .SQLITE_CANTOPEN,
            .SQLITE_ABORT, .SQLITE_PROTOCOL:
            return true
        default:
            return false
        }
    }

    /// For tests: caps the database at its current size on the writer connection (`PRAGMA max_page_count`) and
    /// fills the last page of the events journal, so every write that journals an event needs a new page and
    /// SQLite answers SQLITE_FULL, as on a full disk. `false` lifts the cap and removes the filler.
    public func simulateFullDatabase(_ full: Bool) throws {
        try pool.writeWithoutTransaction { db in
            if full {
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                try db.execute(sql: "PRAGMA max_page_count = \(pages)")
                // Small rows, each committed alone, until the journal's last page has no room for a real event.
                for _ in 0..<10_000 {
                    do {
                        try db.execute(sql: "INSERT INTO events(type, thread_id, payload, at) VALUES ('test.fill', NULL, '', 0)")
                    } catch {
                        break
                    }
                }
            } else {
                try db.execute(sql: "PRAGMA max_page_count = 1073741823")
                try db.execute(sql: "DELETE FROM events WHERE type = 'test.fill'")
            }
        }
    }
}
