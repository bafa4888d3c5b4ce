import DMDeskControl
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// What the daemon's parts share: configuration, the store, Redis, the event bus, the Graph client and outbox.
public final class DaemonRuntime: Sendable {
    public static let version = "0.1.0"

    public let config: DMDeskConfig
    public let store: Store
    public let redis: RedisContextStore
    public let ingest: IngestPipeline
    public let bus: EventBus
    public let graph: GraphClient
    public let outbox: OutboxWorker
    public let logger: Logger
    public let startedAt = Date()
    let token: TokenState
    private let listenerAddress = Mutex<String>("")
    private let limiter = Mutex<ConnectionLimiter?>(nil)

    init(config: DMDeskConfig, options: DaemonOptions, logger: Logger) throws {
        self.config = config
        self.logger = logger
        do { store = try Store(dataDir: config.dataDir) } catch { throw DaemonError.configuration("\(error)") }
        redis = RedisContextStore(endpoint: config.redis, logger: logger)
        let bus = EventBus(lastSeq: (try? store.lastSeq()) ?? 0)
        self.bus = bus
        graph = GraphClient(
            settings: GraphSettings(
                instagramBaseURL: config.apiBaseURL, accessToken: config.accessToken, whatsappBaseURL: config.whatsappBaseURL,
                whatsappToken: config.whatsappToken, whatsappPhoneNumberId: config.whatsappPhoneNumberId),
            logger: logger)
        let profiles = ProfileFetcher(
            store: store, graph: graph, enabled: config.accessToken != nil, logger: logger, publish: { bus.publish($0) })
        ingest = IngestPipeline(
            store: store, redis: redis, options: IngestOptions(echoTakeover: config.echoTakeover), logger: logger,
            publish: { events in
                bus.publish(events)
                profiles.consider(events)
            })
        let statusHolder = Mutex<(@Sendable () -> Void)?>(nil)
        token = TokenState(onChange: { statusHolder.withLock { $0 }?() })
        outbox = OutboxWorker(
            store: store, graph: graph, config: config, policy: options.graphRetryPolicy, tokenState: token,
            logger: logger, publish: { bus.publish($0) })
        statusHolder.withLock { $0 = { [weak self] in self?.publishStatus() } }
    }

    public var listener: String {
        get { listenerAddress.withLock { $0 } }
        set { listenerAddress.withLock { $0 = newValue } }
    }

    public func publish(_ events: [JournalEvent]) { bus.publish(events) }

    /// What follows a committed reply plan (the processor's batches, the agent's actions): the replies into the
    /// Redis context, the events to subscribers, the outbox rows to the worker — rows committed as pending just
    /// now and handed to no one else, so the worker need not read them back.
    func dispatch(context: [ContextTurn], events: [JournalEvent], records: [OutboundRecord]) {
        if !context.isEmpty { redis.push(context) }
        if !events.isEmpty { publish(events) }
        for record in records { outbox.submit(record, fresh: true) }
    }

    func dispatch(_ completion: BatchCompletion) {
        dispatch(context: completion.context, events: completion.events, records: completion.records)
    }

    /// Journals and publishes a `daemon.status` event (Redis or token state changed).
    public func publishStatus() {
        let status = self.status()
        if let event = try? store.pool.write({ db in try Store.journal(db, type: EventType.daemonStatus, thread: nil, data: .from(status)) }) {
            bus.publish([event])
        }
    }

    public var tokenState: String {
        if config.accessToken == nil { return "unset" }
        return token.invalidReason == nil ? "ok" : "invalid"
    }

    /// The listener's connection bookkeeping, once it runs.
    var connectionLimiter: ConnectionLimiter? {
        get { limiter.withLock { $0 } }
        set { limiter.withLock { $0 = newValue } }
    }

    public var listenerStats: ListenerStats? { connectionLimiter?.stats }

    struct HealthReport {
        var sqliteUp: Bool
        var json: JSONValue
    }

    func healthReport() -> HealthReport {
        let sqliteError = store.check()
        let redisState = redis.state
        let counts = try? store.counts()
        var countsJSON: JSONValue = .null
        if let counts {
            countsJSON = [
                "threads": .number(Double(counts.threads)), "messages": .number(Double(counts.messages)),
                "pending_outbound": .number(Double(counts.pendingOutbound)), "events": .number(Double(counts.events)),
            ]
        }
        let tokenInvalid = token.invalidReason
        let status = sqliteError != nil ? "error" : (redisState.up && tokenInvalid == nil ? "ok" : "degraded")
        let json: JSONValue = [
            "status": .string(status),
            "version": .string(Self.version),
            "listener": .string(listener),
            "sqlite": ["status": .string(sqliteError == nil ? "up" : "down"), "error": sqliteError.map { .string($0) } ?? .null],
            "redis": [
                "status": .string(redisState.up ? "up" : "down"), "last_error": redisState.lastError.map { .string($0) } ?? .null,
                "endpoint": .string(config.redis.description),
            ],
            "token": ["status": .string(tokenState), "error": tokenInvalid.map { .string($0) } ?? .null],
            "uptime_s": .number(Double(Int(Date().timeIntervalSince(startedAt)))),
            "counts": countsJSON,
            "connections": listenerStats.map(Self.json) ?? .null,
        ]
        return HealthReport(sqliteUp: sqliteError == nil, json: json)
    }

    static func json(_ s: ListenerStats) -> JSONValue {
        [
            "open": .number(Double(s.open)), "idle": .number(Double(s.idle)), "max": .number(Double(s.maxConnections)),
            "accepted": .number(Double(s.accepted)), "evicted_idle": .number(Double(s.evictedIdle)),
            "refused": .number(Double(s.refused)), "idle_timeouts": .number(Double(s.idleTimeouts)),
            "request_timeouts": .number(Double(s.requestTimeouts)),
        ]
    }

    public func status() -> DaemonStatus {
        let counts = try? store.counts()
        let redisState = redis.state
        return DaemonStatus(
            listener: listener, sqlite: store.check() == nil ? "up" : "down", redis: redisState.up ? "up" : "down",
            redisError: redisState.lastError, token: tokenState, threads: counts?.threads ?? 0,
            messages: counts?.messages ?? 0, pendingOutbound: counts?.pendingOutbound ?? 0,
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)))
    }
}
