import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import GRDB
import Logging
import Synchronization

/// Looks up a new customer's name and @username once, so people see names rather than ids.
///
/// SQLite is touched only on a serial dispatch queue of its own (never a cooperative-pool thread, and never with
/// GRDB's async read, which deadlocks on 2 cores against synchronous reads blocking that pool elsewhere): the
/// "already fetched?" checks of everything that queued up meanwhile in one read, the answers in one transaction.
final class ProfileFetcher: Sendable {
    private struct State {
        var lookups: [String] = []
        var fetched: [(id: String, profile: InstagramProfile)] = []
        var scheduled = false
    }

    private let store: Store
    private let graph: GraphClient
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let attempted = Mutex<Set<String>>([])
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "dmdesk.profiles")
    private let enabled: Bool

    init(store: Store, graph: GraphClient, enabled: Bool, logger: Logger, publish: @escaping @Sendable ([JournalEvent]) -> Void) {
        self.store = store
        self.graph = graph
        self.enabled = enabled
        self.logger = logger
        self.publish = publish
    }

    /// Called after each commit with the events it produced.
    func consider(_ events: [JournalEvent]) {
        guard enabled else { return }
        var new: [String] = []
        for event in events where event.type == EventType.threadUpdated {
            guard let thread = event.thread, event.data["username"] == nil || event.data["username"] == .null else { continue }
            if attempted.withLock({ $0.insert(thread).inserted }) { new.append(thread) }
        }
        guard !new.isEmpty else { return }
        enqueue { $0.lookups += new }
    }

    private func enqueue(_ change: (inout State) -> Void) {
        let start = state.withLock { s -> Bool in
            change(&s)
            if s.scheduled { return false }
            s.scheduled = true
            return true
        }
        if start { queue.async { self.run() } }
    }

    private func run() {
        while true {
            let (lookups, fetched) = state.withLock { s -> ([String], [(id: String, profile: InstagramProfile)]) in
                defer {
                    s.lookups = []
                    s.fetched = []
                }
                if s.lookups.isEmpty && s.fetched.isEmpty { s.scheduled = false }
                return (s.lookups, s.fetched)
            }
            if lookups.isEmpty && fetched.isEmpty { return }
            if !fetched.isEmpty { save(fetched) }
            if !lookups.isEmpty { lookUp(lookups) }
        }
    }

    /// Starts a Graph lookup for each id whose profile has not been fetched yet.
    private func lookUp(_ ids: [String]) {
        let done: Set<String>
        do {
            done = try store.pool.read { db in
                let statement = try db.cachedStatement(
                    sql: "SELECT profile_fetched_at IS NOT NULL FROM profiles WHERE id = ?")
                var done: Set<String> = []
                for id in ids where try Bool.fetchOne(statement, arguments: [id]) == true { done.insert(id) }
                return done
            }
        } catch {
            done = []
        }
        for id in ids where !done.contains(id) {
            Task.detached { await self.fetch(id) }
        }
    }

    private func fetch(_ id: String) async {
        let graph = self.graph
        do {
            let profile = try await withGraphRetries(.default) { () async throws(GraphError) -> InstagramProfile in
                try await graph.profile(igsid: id)
            }
            enqueue { $0.fetched.append((id, profile)) }
        } catch {
            failed(id, error)
        }
    }

    private func failed(_ id: String, _ error: any Error) {
        // Not fatal: the thread keeps showing the id. A later message tries again.
        attempted.withLock { _ = $0.remove(id) }
        logger.notice("could not fetch an Instagram profile", metadata: ["id": "\(id)", "error": "\(error)"])
    }

    /// Stores the answers in one transaction (each in its own savepoint) and publishes their thread updates.
    private func save(_ fetched: [(id: String, profile: InstagramProfile)]) {
        var events: [JournalEvent] = []
        var failures: [(String, any Error)] = []
        do {
            try store.writeWithoutTransaction(.other) { db in
                try db.inTransaction {
                    for (id, profile) in fetched {
                        do {
                            var event: JournalEvent?
                            try db.inSavepoint {
                                let now = nowMillis()
                                try db.cachedStatement(
                                    sql: """
                                        UPDATE profiles SET username = ?, name = ?, picture = ?, profile_fetched_at = ?, updated_at = ?
                                        WHERE id = ?
                                        """
                                ).execute(arguments: [profile.username, profile.name, profile.profilePic, now, now, id])
                                if let summary = try Store.threadSummary(db, id: id) {
                                    event = try Store.journal(db, type: EventType.threadUpdated, thread: id, data: .from(summary))
                                }
                                return .commit
                            }
                            if let event { events.append(event) }
                        } catch {
                            failures.append((id, error))
                        }
                    }
                    return .commit
                }
            }
        } catch {
            events = []
            failures = fetched.map { ($0.id, error) }
        }
        if !events.isEmpty { publish(events) }
        for (id, error) in failures { failed(id, error) }
    }
}
