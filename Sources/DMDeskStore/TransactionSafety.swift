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
    /// The store's one savepoint helper: runs `body` in a savepoint inside the current transaction (savepoints nest;
    /// the innermost of the name is the one released or rolled back). On success the savepoint is released; on
    /// error it is rolled back and released, so the caller can go on with the next item, and the error is rethrown.
    /// If the transaction is gone afterwards — SQLite rolled it back by itself, or the rollback failed and the whole
    /// transaction was rolled back — the error is rethrown with no transaction left (`isInsideTransaction` false):
    /// the caller must then fail its whole unit, never treat it as one item's failure. Cached statements: GRDB's
    /// `inSavepoint` prepares them anew every time, and this runs per delivery and per event on the writer.
    func withSavepoint<T>(_ body: () throws -> T) throws -> T {
        try cachedStatement(sql: "SAVEPOINT dmdesk").execute()
        do {
            let value = try body()
            try cachedStatement(sql: "RELEASE SAVEPOINT dmdesk").execute()
            return value
        } catch {
            guard isInsideTransaction else { throw error }
            do {
                try cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT dmdesk").execute()
                try cachedStatement(sql: "RELEASE SAVEPOINT dmdesk").execute()
            } catch {
                try? execute(sql: "ROLLBACK")
                throw error
            }
            throw error
        }
    }

    /// Group commit: every item in one transaction, each in its own savepoint (`withSavepoint`), so one bad item is
    /// rolled back alone while the batch shares a single commit. Results come back in item order. If the
    /// transaction is lost after an item's error, that error is thrown and nothing is committed.
    func eachInSavepoint<Item, Output>(_ items: [Item], _ body: (Item, Database) throws -> Output) throws -> [Result<Output, any Error>] {
        var results: [Result<Output, any Error>] = []
        results.reserveCapacity(items.count)
        try inTransaction {
            for item in items {
                do {
                    results.append(.success(try withSavepoint { try body(item, self) }))
                } catch where !isInsideTransaction {
                    throw error  // the transaction is gone: the whole unit fails
                } catch {
                    results.append(.failure(error))
                }
            }
            return .commit
        }
        return results
    }
}

extension SQLiteStore {
    /// SQLite could not write for a reason of its own (a full disk, an I/O error, no memory, a lock), not because of
    /// the data: the same work may well succeed later, so it must not count as the work's own failure.
    static func isStorageFailure(_ error: Error) -> Bool {
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
    public func simulateFullDatabase(_ full: Bool) async throws {
        try await pool.writeWithoutTransaction { db in
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

extension SQLiteStore {
    /// Raw SQL in one transaction on the writer, for tools that shape a data directory directly (the console
    /// benchmark's synthetic inbox). Outside every guarantee of the store's methods and not reported to write health;
    /// the daemon never uses it (it does not import this SPI).
    @_spi(Tools) public func toolsWrite<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        try await pool.write(updates)
    }
}
