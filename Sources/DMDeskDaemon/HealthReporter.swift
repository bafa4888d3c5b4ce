import DMDeskControl
import DMDeskCore
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// The daemon's health as /health, `status` requests and `daemon.status` events tell it: the store's own view,
/// Redis (never waiting for it), the token, the listener's connections.
final class HealthReporter: Sendable {
    let config: DMDeskConfig
    let store: any InboxStore
    let redis: RedisContextStore
    let bus: EventBus
    let token: TokenState
    let connectionLimiter: ConnectionLimiter
    let webhooks: WebhookHealth
    let logger: Logger
    let clock: @Sendable () -> EpochMillis
    let startedAt = Date()
    private let listenerAddress = Mutex<String>("")

    init(
        config: DMDeskConfig, store: any InboxStore, redis: RedisContextStore, bus: EventBus, token: TokenState,
        connectionLimiter: ConnectionLimiter, webhooks: WebhookHealth,
        clock: @escaping @Sendable () -> EpochMillis = nowMillis, logger: Logger
    ) {
        self.webhooks = webhooks
        self.clock = clock
        self.config = config
        self.store = store
        self.redis = redis
        self.bus = bus
        self.token = token
        self.connectionLimiter = connectionLimiter
        self.logger = logger
    }

    /// The listener's address once it is bound.
    var listener: String {
        get { listenerAddress.withLock { $0 } }
        set { listenerAddress.withLock { $0 = newValue } }
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

    public var listenerStats: ListenerStats? { connectionLimiter.stats }

    /// `dmdesk token status`: source, expiry, the last check (never the token).
    public var tokenReport: TokenReport {
        token.report(configured: config.accessToken != nil, refresh: config.tokenRefresh)
    }

    /// "open" or "closed" with `DMDESK_BUSINESS_HOURS` set, else nil.
    public var businessHours: String? {
        config.businessHours.map { $0.isOpen(at: clock()) ? "open" : "closed" }
    }

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
        let hooks = webhooks.report()
        let healthy = redisState.up && tokenInvalid == nil && sqlite.verdict == .up && hooks.verdict != .failing
        let status = sqlite.unusable ? "error" : (healthy ? "ok" : "degraded")
        let json: JSONValue = [
            "status": .string(status),
            "version": .string(DaemonRuntime.version),
            "listener": .string(listener),
            "sqlite": Self.json(sqlite),
            "redis": [
                "status": .string(redisState.up ? "up" : "down"), "last_error": redisState.lastError.map { .string($0) } ?? .null,
                "endpoint": .string(config.redis.description),
            ],
            "token": Self.json(tokenReport, status: tokenState),
            "uptime_s": .number(Double(Int(Date().timeIntervalSince(startedAt)))),
            "counts": countsJSON,
            "connections": listenerStats.map(Self.json) ?? .null,
            "business_hours": businessHours.map { .string($0) } ?? .null,
            "last_webhook_at": hooks.lastAt.map { .string(InternalRoutes.iso($0)) } ?? .null,
            "last_webhook_age_seconds": hooks.ageSeconds.map { .number(Double($0)) } ?? .null,
            "webhooks": Self.json(hooks),
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
            "writes": writes, "quick_check": quickCheck, "disk": disk, "database_bytes": number(r.databaseBytes),
        ]
    }

    static func json(_ t: TokenReport, status: String) -> JSONValue {
        func time(_ millis: EpochMillis?) -> JSONValue { millis.map { .string(iso8601UTC(millis: $0)) } ?? .null }
        return [
            "status": .string(status), "error": t.error.map { .string($0) } ?? .null,
            "source": t.source.map { .string($0) } ?? .null, "refresh": .string(t.refresh),
            "expires_at": time(t.expiresAt), "next_refresh_at": time(t.nextRefreshAt), "last_check_at": time(t.lastCheckAt),
        ]
    }

    static func json(_ w: WebhookHealthReport) -> JSONValue {
        [
            "status": .string(w.verdict.rawValue), "reason": w.reason.map { .string($0) } ?? .null,
            "last_at_ms": w.lastAt.map { .number(Double($0)) } ?? .null,
            "silence_seconds": .number(Double(w.silenceSeconds)),
            "last_check_at": w.lastCheckAt.map { .string(InternalRoutes.iso($0)) } ?? .null,
            "check_error": w.checkError.map { .string($0) } ?? .null,
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
        let hooks = webhooks.report()
        var status = DaemonStatus(
            listener: listener, sqlite: sqlite.verdict.label, redis: redisState.up ? "up" : "down",
            redisError: redisState.lastError, token: tokenState, tokenError: token.invalidReason, threads: counts?.threads ?? 0,
            messages: counts?.messages ?? 0, pendingOutbound: counts?.pendingOutbound ?? 0,
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)), businessHours: businessHours)
        status.lastWebhookAt = hooks.lastAt
        status.webhooks = hooks.verdict.rawValue
        status.webhookWarning = hooks.reason
        return status
    }
}
