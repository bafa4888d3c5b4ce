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
    public let store: any InboxStore
    public let redis: RedisContextStore
    public let bus: EventBus
    public let graph: GraphClient
    public let outbox: OutboxWorker
    public let logger: Logger
    public let startedAt = Date()
    let token: TokenState
    /// Looks up new customers' names (Graph calls of its own: stopped with the senders, before the store closes).
    let profiles: ProfileFetcher
    /// The listener's connection bookkeeping (made here: /health reports it).
    let connectionLimiter: ConnectionLimiter
    private let listenerAddress = Mutex<String>("")

    init(config: DMDeskConfig, options: DaemonOptions, logger: Logger) throws {
        self.config = config
        self.logger = logger
        let store: any InboxStore
        do { store = try SQLiteStore(dataDir: config.dataDir) } catch { throw DaemonError.configuration("\(error)") }
        self.store = store
        redis = RedisContextStore(endpoint: config.redis, logger: logger)
        // Start-up, before anything else uses the store: nothing for a blocking read to wait behind.
        let bus = EventBus(lastSeq: (try? store.blocking.lastSeq()) ?? 0)
        self.bus = bus
        graph = GraphClient(
            settings: GraphSettings(
                instagramBaseURL: config.apiBaseURL, accessToken: config.accessToken, whatsappBaseURL: config.whatsappBaseURL,
                whatsappToken: config.whatsappToken, whatsappPhoneNumberId: config.whatsappPhoneNumberId),
            logger: logger)
        profiles = ProfileFetcher(
            store: store, graph: graph, enabled: config.accessToken != nil, logger: logger, publish: { bus.publish($0) })
        token = TokenState()
        outbox = OutboxWorker(
            store: store, graph: graph, config: config, policy: options.graphRetryPolicy, tokenState: token,
            logger: logger, publish: { bus.publish($0) })
        connectionLimiter = ConnectionLimiter(limits: Self.listenerLimits(config: config, logger: logger))
    }

    /// Raises RLIMIT_NOFILE to its hard limit and fits the connection cap under it.
    static func listenerLimits(config: DMDeskConfig, logger: Logger) -> ListenerLimits {
        let descriptors = DescriptorLimit.raiseToHardLimit()
        let limits = ListenerLimits(config: config, descriptorLimit: descriptors.now)
        var metadata: Logger.Metadata = [
            "soft_before": "\(descriptors.before)", "soft": "\(descriptors.now)", "hard": "\(descriptors.hard)",
            "max_connections": "\(limits.maxConnections)", "reserved": "\(ListenerLimits.reservedDescriptors)",
        ]
        if let error = descriptors.error { metadata["error"] = "\(error)" }
        logger.info("descriptor limit", metadata: metadata)
        if limits.maxConnections < config.maxConnections {
            logger.warning(
                "DMDESK_MAX_CONNECTIONS lowered to fit the descriptor limit",
                metadata: ["configured": "\(config.maxConnections)", "max_connections": "\(limits.maxConnections)"])
        }
        return limits
    }

    public var listener: String {
        get { listenerAddress.withLock { $0 } }
        set { listenerAddress.withLock { $0 = newValue } }
    }

    public func publish(_ events: [JournalEvent]) { bus.publish(events) }

    /// What follows a committed reply plan (the processor's batches, the agent's actions): the replies into the
    /// Redis context, the events to subscribers, the outbox rows to the worker — rows committed as pending just
    /// now and handed to no one else, so the worker need not read them back. From the processor's own thread: the
    /// Redis push may block it.
    func dispatch(context: [ContextTurn], events: [JournalEvent], records: [OutboundRecord]) {
        if !context.isEmpty { redis.push(context) }
        handOn(events: events, records: records)
    }

    /// The same from async code (the agent's runs): the Redis push waits on Redis's queue, not a pool thread.
    func dispatch(_ completion: BatchCompletion) async {
        if !completion.context.isEmpty { await redis.pushAsync(completion.context) }
        handOn(events: completion.events, records: completion.records)
    }

    private func handOn(events: [JournalEvent], records: [OutboundRecord]) {
        if !events.isEmpty { publish(events) }
        for record in records { outbox.submit(record, fresh: true) }
    }

    /// Journals and publishes a `daemon.status` event (Redis, SQLite or token state changed). Returns whether it
    /// could: the event goes through the journal, so while writes fail it cannot.
    @discardableResult
    public func publishStatus() async -> Bool {
        let status = await self.status()
        guard let event = try? await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: .from(status))
        else { return false }
        bus.publish([event])
        return true
    }

    public var tokenState: String {
        if config.accessToken == nil { return "unset" }
        return token.invalidReason == nil ? "ok" : "invalid"
    }

    /// Tasks that may call the Graph API: the outbox's senders and the profile lookups (none after a shutdown).
    public var graphCallersRunning: Int { outbox.sendersRunning + profiles.tasksRunning }

    public var listenerStats: ListenerStats? { connectionLimiter.stats }

    /// The store's own view: a read, the last write, the last quick_check, free disk.
    public func storeHealth() async -> StoreHealthReport {
        await store.healthReport(minFreeBytes: UInt64(config.minFreeDiskMB) * 1_048_576)
    }

    func logStoreChange(_ report: StoreHealthReport, from previous: StoreHealthReport.Verdict) {
        let metadata: Logger.Metadata = ["was": "\(previous.label)", "reason": "\(report.reason ?? "-")"]
        switch report.verdict {
        case .up: logger.notice("SQLite is healthy again", metadata: metadata)
        case .lowDisk: logger.warning("SQLite: little free space in the data directory", metadata: metadata)
        case .down, .corrupt, .writesFailing: logger.error("SQLite: \(report.verdict.label)", metadata: metadata)
        }
    }

    struct HealthReport {
        /// 503: webhooks cannot be stored, or the database cannot be trusted.
        var unavailable: Bool
        var json: JSONValue
    }

    func healthReport() async -> HealthReport {
        let sqlite = await storeHealth()
        let redisState = redis.state
        let counts = try? await store.counts()
        var countsJSON: JSONValue = .null
        if let counts {
            countsJSON = [
                "threads": .number(Double(counts.threads)), "messages": .number(Double(counts.messages)),
                "pending_outbound": .number(Double(counts.pendingOutbound)), "events": .number(Double(counts.events)),
            ]
        }
        let tokenInvalid = token.invalidReason
        let status =
            sqlite.unusable ? "error" : (redisState.up && tokenInvalid == nil && sqlite.verdict == .up ? "ok" : "degraded")
        let json: JSONValue = [
            "status": .string(status),
            "version": .string(Self.version),
            "listener": .string(listener),
            "sqlite": Self.json(sqlite),
            "redis": [
                "status": .string(redisState.up ? "up" : "down"), "last_error": redisState.lastError.map { .string($0) } ?? .null,
                "endpoint": .string(config.redis.description),
            ],
            "token": ["status": .string(tokenState), "error": tokenInvalid.map { .string($0) } ?? .null],
            "uptime_s": .number(Double(Int(Date().timeIntervalSince(startedAt)))),
            "counts": countsJSON,
            "connections": listenerStats.map(Self.json) ?? .null,
        ]
        return HealthReport(unavailable: sqlite.unusable, json: json)
    }

    static func json(_ r: StoreHealthReport) -> JSONValue {
        func number<T: BinaryInteger>(_ v: T?) -> JSONValue { v.map { .number(Double($0)) } ?? .null }
        let failing = Set(r.writes.failingPaths)
        func outcome(_ path: WritePath, _ o: WriteHealth.Outcome) -> JSONValue {
            [
                "status": .string(failing.contains(path) ? "failing" : (o.failing ? "stale" : "ok")),
                "last_ok_at": number(o.lastSuccessAt),
                "last_failure_at": number(o.lastFailureAt), "last_error": o.lastError.map { .string($0) } ?? .null,
                "failures": number(o.failures),
            ]
        }
        var paths: [String: JSONValue] = [:]
        for (path, o) in r.writes.paths { paths[path.rawValue] = outcome(path, o) }
        let writes: JSONValue = [
            "status": .string(!failing.isEmpty ? "failing" : (r.writes.lastSuccessAt == nil ? "none" : "ok")),
            "failing": .array(WritePath.allCases.filter(failing.contains).map { .string($0.rawValue) }),
            "last_ok_at": number(r.writes.lastSuccessAt), "last_failure_at": number(r.writes.lastFailureAt),
            "last_error": r.writes.lastError.map { .string($0) } ?? .null, "failures": number(r.writes.failures),
            "paths": .object(paths),
        ]
        let quickCheck: JSONValue = [
            "status": .string(r.quickCheck.status.rawValue), "checked_at": number(r.quickCheck.checkedAt),
            "duration_ms": number(r.quickCheck.durationMs), "problems": .array(r.quickCheck.problems.map { .string($0) }),
            "problem_count": number(r.quickCheck.problemCount), "interval_ms": number(r.quickCheckIntervalMs),
        ]
        let disk: JSONValue = [
            "status": .string(r.disk == nil ? "unknown" : (r.diskLow ? "low" : "ok")), "path": .string(r.diskPath),
            "free_bytes": number(r.disk?.freeBytes), "total_bytes": number(r.disk?.totalBytes),
            "min_free_bytes": number(r.minFreeBytes),
        ]
        return [
            "status": .string(r.verdict.rawValue), "error": r.reason.map { .string($0) } ?? .null,
            "writes": writes, "quick_check": quickCheck, "disk": disk,
        ]
    }

    static func json(_ s: ListenerStats) -> JSONValue {
        [
            "open": .number(Double(s.open)), "idle": .number(Double(s.idle)), "max": .number(Double(s.maxConnections)),
            "accepted": .number(Double(s.accepted)), "evicted_idle": .number(Double(s.evictedIdle)),
            "refused": .number(Double(s.refused)), "idle_timeouts": .number(Double(s.idleTimeouts)),
            "request_timeouts": .number(Double(s.requestTimeouts)),
        ]
    }

    public func status() async -> DaemonStatus {
        let counts = try? await store.counts()
        let sqlite = await storeHealth()
        let redisState = redis.state
        return DaemonStatus(
            listener: listener, sqlite: sqlite.verdict.label, redis: redisState.up ? "up" : "down",
            redisError: redisState.lastError, token: tokenState, threads: counts?.threads ?? 0,
            messages: counts?.messages ?? 0, pendingOutbound: counts?.pendingOutbound ?? 0,
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)))
    }
}
