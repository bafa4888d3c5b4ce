import DMDeskControl
import DMDeskCore
import DMDeskStore
import Logging
import ServiceLifecycle
import Synchronization

// The daemon's long-running parts, one `Service` each. `Daemon` runs them in one ServiceGroup, in dependency
// order; the group shuts them down gracefully in reverse, each after the one started after it has returned (the
// order and the reasons: docs/ARCHITECTURE.md). Each gets what it needs at `init`. A `run()` does its start-up,
// waits for the graceful shutdown, and then stops its part; a wait that blocks happens on a thread of its own.

/// The store, opened by `Daemon.init` (a bad data directory is a start-up error), with its integrity checks while
/// the daemon runs. Closed last, once every part that reads or writes it has stopped.
struct StoreService: Service {
    let store: any InboxStore
    let quickCheckInterval: Duration
    let logger: Logger

    func run() async throws {
        store.startIntegrityChecks(every: quickCheckInterval)
        try? await gracefulShutdown()
        do { try await store.close() } catch { logger.error("closing the store failed", metadata: ["error": "\(error)"]) }
        logger.info("store closed")
    }
}

/// Keeps Redis connected (reconnecting in the background, so /health is right even when no messages arrive) and
/// tells consoles when Redis, SQLite or the token changes: a `daemon.status` event. It is journaled, so while
/// writes fail it is tried again each second. Closes the Redis connection after every part that pushes has stopped.
struct StatusWatchService: Service {
    let redis: RedisContextStore
    let token: TokenState
    let health: HealthReporter
    let tokenAlert: TokenAlert

    func run() async throws {
        await redis.connectAsync()
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    // Ends when the task is cancelled (the shutdown).
                    for await _ in token.changes {
                        await health.publishStatus()
                        if let reason = token.invalidReason { await tokenAlert.tell(reason) }
                    }
                }
                group.addTask { await watch() }
            }
        }
        await redis.closeAsync()
    }

    private func watch() async {
        var wasUp = redis.state.up
        var announcedStore = StoreHealthReport.Verdict.up
        var loggedStore = StoreHealthReport.Verdict.up
        var announcedHours = health.businessHours
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { break }
            let isUp = await redis.connectAsync()
            let store = await health.storeHealth()
            if store.verdict != loggedStore {
                health.logStoreChange(store, from: loggedStore)
                loggedStore = store.verdict
            }
            let hours = health.businessHours
            if isUp != wasUp || store.verdict != announcedStore || hours != announcedHours {
                if await health.publishStatus() {
                    announcedStore = store.verdict
                    announcedHours = hours
                }
            }
            wasUp = isUp
        }
    }
}

/// Retention (`RetentionPruner`): a pass at start-up, then one every `interval`, until the shutdown.
struct RetentionService: Service {
    let pruner: RetentionPruner
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = await pruner.pass()
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// A result set once and awaited by any number: who waits before it is set resumes when it is; the first result
/// counts.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, Error>])
        case done(Result<Value, Error>)
    }

    private let state = Mutex(State.waiting([]))

    func set(_ result: Result<Value, Error>) {
        let waiters = state.withLock { s -> [CheckedContinuation<Value, Error>] in
            guard case .waiting(let list) = s else { return [] }
            s = .done(result)
            return list
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    func wait() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let known = state.withLock { s -> Result<Value, Error>? in
                switch s {
                case .waiting(var list):
                    list.append(continuation)
                    s = .waiting(list)
                    return nil
                case .done(let result): return result
                }
            }
            if let known { continuation.resume(with: known) }
        }
    }
}

/// A one-time "this part has started" that another part's start-up waits for.
typealias StartupGate = OneShot<Void>

extension OneShot where Value == Void {
    func open() { set(.success(())) }
    /// A gate is only ever opened, never failed.
    func opened() async { _ = try? await wait() }
}

/// Who waits for the listener to be bound (the port, with PORT=0) and who tells them.
typealias ListenerReadiness = OneShot<Int>

/// The Graph API's callers of their own: the outbox (rows left by the last run are reconciled or resumed before
/// the processor may queue new ones: `resumed`) and the profile lookups. At shutdown the sends and lookups under
/// way get a moment to finish, then are cancelled and awaited: no Graph call after this returns.
struct OutboxService: Service {
    let outbox: OutboxWorker
    let profiles: ProfileFetcher
    let resumed: StartupGate
    let grace: Duration

    func run() async throws {
        await outbox.resumePending()
        resumed.open()
        try? await gracefulShutdown()
        async let sendsStopped: Void = outbox.shutdown(grace: grace)
        async let lookupsStopped: Void = profiles.shutdown(grace: grace)
        _ = await (sendsStopped, lookupsStopped)
    }
}

/// The reply processor (and the agent's runs): starts once the outbox has resumed; stops after ingest has drained.
/// `started` opens once it runs: its start-up scan answers what the last run left pending at once, so a delivery
/// must not arrive before it (it would skip its debounce window).
struct ProcessorService: Service {
    let processor: Processor
    let outboxResumed: StartupGate
    let started: StartupGate

    func run() async throws {
        await outboxResumed.opened()
        await processor.start()
        started.open()
        try? await gracefulShutdown()
        await processor.stop()
    }
}

/// The ingest pipeline's writer and finisher threads: at shutdown, every delivery already accepted is committed
/// and answered before it returns.
struct IngestService: Service {
    let ingest: IngestPipeline

    func run() async throws {
        ingest.start()
        try? await gracefulShutdown()
        await ingest.stop()
    }
}

/// The control socket, claimed by `Daemon.run` before the group starts (a live daemon on the same socket is
/// never displaced). Stops second, right after the listener: consoles see the daemon go.
struct ControlSocketService: Service {
    let server: ControlServer

    func run() async throws {
        try? await gracefulShutdown()
        // Joining the socket's threads blocks: a thread of its own.
        await onOwnThread(named: "dmdesk-ctlstop") { server.stop() }
    }
}

/// The webhook listener (Hummingbird), bound once the parts behind it run: at shutdown it stops accepting and finishes the requests in flight. A bind
/// failure is reported to `waitUntilListening` with a line that says what to do.
struct ListenerService<App: Service>: Service {
    let app: App
    let host: String
    let port: Int
    let readiness: ListenerReadiness
    /// The parts behind the listener are running (the processor, and so the outbox before it); nil: nothing to wait for.
    let partsStarted: StartupGate?

    func run() async throws {
        await partsStarted?.opened()
        do {
            try await app.run()
        } catch {
            let described = Daemon.describeListenError(error, host: host, port: port)
            readiness.set(.failure(described))
            throw described
        }
    }
}
