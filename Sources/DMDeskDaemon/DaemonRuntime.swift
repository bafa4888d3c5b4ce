import DMDeskControl
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// The parts several services are built from: configuration, the store, Redis, the event bus, the Graph client,
/// the outbox, what follows a commit (`fanOut`) and the health report. `Daemon.init` makes it and hands each part
/// the pieces it uses; no part holds it. Tests read the pieces through it.
public final class DaemonRuntime: Sendable {
    public static let version = "0.1.0"

    public let config: DMDeskConfig
    public let store: any InboxStore
    public let redis: RedisContextStore
    public let bus: EventBus
    public let graph: GraphClient
    public let outbox: OutboxWorker
    public let logger: Logger
    let token: TokenState
    /// Refreshes the Instagram token (`DMDESK_TOKEN_REFRESH`, `dmdesk token refresh`); made before any Graph call.
    let tokenRefresher: TokenRefresher
    /// Looks up new customers' names (Graph calls of its own: stopped with the senders, before the store closes).
    let profiles: ProfileFetcher
    /// The listener's connection bookkeeping (made here: /health reports it).
    let connectionLimiter: ConnectionLimiter
    let fanOut: FanOut
    let health: HealthReporter
    /// When the last webhook came, and whether Meta has messages that never did (`WebhookHealthService`).
    let webhooks: WebhookHealth
    /// `dmdesk sync` and the silence check's look at the Conversations API.
    let sync: ConversationSync
    /// Prometheus metrics (`DMDESK_METRICS_ADDR`); counting does nothing when they are off.
    public let metrics: DaemonMetrics

    init(config: DMDeskConfig, options: DaemonOptions, logger: Logger) throws {
        self.config = config
        let metrics = DaemonMetrics(enabled: config.metricsAddress != nil)
        self.metrics = metrics
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
        let token = TokenState(source: config.accessToken == nil ? nil : "configured")
        self.token = token
        tokenRefresher = TokenRefresher(
            graph: graph, token: token, config: config, clock: options.clock, retryDelay: options.tokenRetryDelay,
            logger: logger)
        outbox = OutboxWorker(
            store: store, graph: graph, config: config, policy: options.graphRetryPolicy, tokenState: token,
            metrics: metrics, logger: logger, publish: { bus.publish($0) })
        connectionLimiter = ConnectionLimiter(limits: Self.listenerLimits(config: config, logger: logger))
        fanOut = FanOut(bus: bus, redis: redis, outbox: outbox)
        let webhooks = WebhookHealth(silence: config.webhookSilence, clock: options.clock)
        self.webhooks = webhooks
        sync = ConversationSync(
            graph: graph, store: store, accountId: config.accountId, logger: logger, token: token, publish: { bus.publish($0) })
        health = HealthReporter(
            config: config, store: store, redis: redis, bus: bus, token: token, connectionLimiter: connectionLimiter,
            webhooks: webhooks, clock: options.clock, logger: logger)
    }

    /// Tasks that may call the Graph API: the outbox's senders, sender actions and the profile lookups (none after a
    /// shutdown).
    public var graphCallersRunning: Int { outbox.sendersRunning + outbox.senderActions.running + profiles.tasksRunning }

    public var listenerStats: ListenerStats? { health.listenerStats }

    public func status() async -> DaemonStatus { await health.status() }

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

}
