import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// Looks up a new customer's name and @username once, so people see names rather than ids.
///
/// The store is reached by one task at a time (`scheduled` keeps it one): the "already fetched?" checks of
/// everything that queued up meanwhile in one read, the answers in one commit.
final class ProfileFetcher: Sendable {
    private struct State {
        var lookups: [String] = []
        var fetched: [(id: String, profile: InstagramProfile)] = []
        var scheduled = false
    }

    private let store: any InboxStore
    private let graph: GraphClient
    private let logger: Logger
    private let publish: @Sendable ([JournalEvent]) -> Void
    private let attempted = Mutex<Set<String>>([])
    private let state = Mutex(State())
    private let enabled: Bool
    /// The store task and the Graph lookups: awaited at shutdown, before the store closes.
    private let tasks = TrackedTasks()

    init(store: any InboxStore, graph: GraphClient, enabled: Bool, logger: Logger, publish: @escaping @Sendable ([JournalEvent]) -> Void) {
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
        if start && !tasks.start({ await self.run() }) {
            state.withLock { $0.scheduled = false }  // shutting down: the next start looks the names up
        }
    }

    private func run() async {
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
            if !fetched.isEmpty { await save(fetched) }
            if !lookups.isEmpty { await lookUp(lookups) }
        }
    }

    /// Starts a Graph lookup for each id whose profile has not been fetched yet.
    private func lookUp(_ ids: [String]) async {
        let todo = (try? await store.profilesToFetch(ids)) ?? ids
        for id in todo {
            tasks.start { await self.fetch(id) }
        }
    }

    /// Lookups and store tasks running now (none once `shutdown` has returned).
    var tasksRunning: Int { tasks.count }

    /// Shutdown: lookups under way get `grace` to finish and be stored; the rest are cancelled and awaited.
    func shutdown(grace: Duration) async {
        await tasks.shutdown(grace: grace)
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

    /// Stores the answers in one commit (each alone) and publishes their thread updates.
    private func save(_ fetched: [(id: String, profile: InstagramProfile)]) async {
        let results = await store.saveProfiles(
            fetched.map { ($0.id, $0.profile.username, $0.profile.name, $0.profile.profilePic) })
        var events: [JournalEvent] = []
        var failures: [(String, any Error)] = []
        for ((id, _), result) in zip(fetched, results) {
            switch result {
            case .success(let event): if let event { events.append(event) }
            case .failure(let error): failures.append((id, error))
            }
        }
        if !events.isEmpty { publish(events) }
        for (id, error) in failures { failed(id, error) }
    }
}
