import DMDeskCore
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// What the daemon's parts share: configuration, the store, Redis, the ingest pipeline and live state.
public final class DaemonRuntime: Sendable {
    public static let version = "0.1.0"

    public let config: DMDeskConfig
    public let store: Store
    public let redis: RedisContextStore
    public let ingest: IngestPipeline
    public let logger: Logger
    public let startedAt = Date()
    private let listenerAddress = Mutex<String>("")
    private let tokenInvalidReason = Mutex<String?>(nil)

    init(config: DMDeskConfig, store: Store, redis: RedisContextStore, ingest: IngestPipeline, logger: Logger) {
        self.config = config
        self.store = store
        self.redis = redis
        self.ingest = ingest
        self.logger = logger
    }

    public var listener: String {
        get { listenerAddress.withLock { $0 } }
        set { listenerAddress.withLock { $0 = newValue } }
    }

    /// Meta answered code 190: every send will fail until someone fixes the token.
    public var tokenInvalid: String? {
        get { tokenInvalidReason.withLock { $0 } }
        set { tokenInvalidReason.withLock { $0 = newValue } }
    }

    public var tokenState: String {
        if config.accessToken == nil { return "unset" }
        return tokenInvalid == nil ? "ok" : "invalid"
    }

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
        ]
        return HealthReport(sqliteUp: sqliteError == nil, json: json)
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
