import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import GRDB
import Logging
import Synchronization

/// Looks up a new customer's name and @username once, so people see names rather than ids.
final class ProfileFetcher: Sendable {
    private let store: Store
    private let graph: GraphClient
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let attempted = Mutex<Set<String>>([])
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
        for event in events where event.type == EventType.threadUpdated {
            guard let thread = event.thread, event.data["username"] == nil || event.data["username"] == .null else { continue }
            let isNew = attempted.withLock { $0.insert(thread).inserted }
            if isNew { Task.detached { await self.fetch(thread) } }
        }
    }

    private func fetch(_ id: String) async {
        // A synchronous read on purpose: GRDB's async read releases its reader only after resuming on the
        // cooperative pool, which deadlocks (on 2 cores) against synchronous reads blocking that pool elsewhere.
        let store = self.store
        let readFetched: () throws -> Bool? = {
            try store.pool.read { db in
                try Bool.fetchOne(db, sql: "SELECT profile_fetched_at IS NOT NULL FROM profiles WHERE id = ?", arguments: [id])
            }
        }
        let alreadyFetched = (try? readFetched()) ?? false
        if alreadyFetched == true { return }
        do {
            let profile = try await withGraphRetries(.default) { () async throws(GraphError) -> InstagramProfile in
                try await graph.profile(igsid: id)
            }
            let event = try await store.pool.write { db -> JournalEvent? in
                try db.execute(
                    sql: "UPDATE profiles SET username = ?, name = ?, picture = ?, profile_fetched_at = ?, updated_at = ? WHERE id = ?",
                    arguments: [profile.username, profile.name, profile.profilePic, nowMillis(), nowMillis(), id])
                guard let summary = try Store.threadSummary(db, id: id) else { return nil }
                return try Store.journal(db, type: EventType.threadUpdated, thread: id, data: .from(summary))
            }
            if let event { publish([event]) }
        } catch {
            // Not fatal: the thread keeps showing the id. A later message tries again.
            attempted.withLock { _ = $0.remove(id) }
            logger.notice("could not fetch an Instagram profile", metadata: ["id": "\(id)", "error": "\(error)"])
        }
    }
}
