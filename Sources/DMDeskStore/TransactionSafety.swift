import DMDeskCore
import Foundation
import GRDB

// A unit of work that writes many items in one transaction (a savepoint each) must stop at once when the
// transaction itself is gone: SQLite may roll it back by itself after an error (SQLITE_FULL, SQLITE_IOERR,
// SQLITE_NOMEM). Nothing of the unit was then committed, and nothing more of it may run: outside a transaction every
// further statement would commit on its own (a later SAVEPOINT starts a new transaction and its RELEASE commits
// it), leaving half a unit on disk — an outbox row for a batch whose messages were never marked answered, say,
// queued again by the next attempt. (GRDB refuses statements in an aborted `inTransaction` block too; these checks
// do not depend on that.)

extension Database {
    /// After an item failed inside a transaction: rolls back to its savepoint and releases it, so the next item can
    /// go on. If the transaction is gone, or the rollback fails (then the transaction is rolled back whole), the
    /// item's error is rethrown with no transaction left: the caller must fail the whole unit (`isInsideTransaction`
    /// says which case it is).
    func rollbackItem(after error: Error, rollback: Statement, release: Statement) throws {
        guard isInsideTransaction else { throw error }
        do {
            try rollback.execute()
            try release.execute()
        } catch {
            try? execute(sql: "ROLLBACK")
            throw error
        }
    }
}

extension Store {
    /// SQLite could not write for a reason of its own (a full disk, an I/O error, no memory, a lock), not because of
    /// the data: the same work may well succeed later, so it must not count as the work's own failure.
    public static func isStorageFailure(_ error: Error) -> Bool {
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
