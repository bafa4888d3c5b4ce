import DMDeskAgent
import DMDeskControl
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

public struct DaemonOptions: Sendable {
    /// Accept unsigned webhooks when no app secret is configured (local testing only).
    public var allowUnsigned: Bool
    /// How Graph API calls are retried (tests shorten the delays).
    public var graphRetryPolicy: RetryPolicy
    /// Serve the control socket (tests of the listener alone may skip it).
    public var controlSocket: Bool
    /// The time business hours and the fallback cooldown are judged at (tests move it; real time otherwise).
    public var clock: @Sendable () -> EpochMillis
    /// systemd's readiness and watchdog notifications ($NOTIFY_SOCKET; nothing is sent without it).
    public var systemd: SystemdNotify
    /// How long after a failed token refresh the next one is tried (`DMDESK_TOKEN_REFRESH=auto`).
    public var tokenRetryDelay: Duration
    /// The time snoozes end by: the system clock, or `DMDESK_CLOCK_FILE`'s (tests).
    public var snoozeClock: SnoozeClock = .fromEnvironment()
    public init(
        allowUnsigned: Bool = false, graphRetryPolicy: RetryPolicy = .default, controlSocket: Bool = true,
        clock: @escaping @Sendable () -> EpochMillis = nowMillis,
        systemd: SystemdNotify = SystemdNotify(environment: ProcessInfo.processInfo.environment),
        tokenRetryDelay: Duration = .seconds(3600)
    ) {
        self.tokenRetryDelay = tokenRetryDelay
        self.systemd = systemd
        self.allowUnsigned = allowUnsigned
        self.graphRetryPolicy = graphRetryPolicy
        self.controlSocket = controlSocket
        self.clock = clock
    }
}

/// The headless daemon: its parts wired at `init`, run as one ServiceGroup in dependency order (`services`).
/// `run()` returns after a graceful shutdown: the listener stops accepting and finishes requests in flight,
/// ingest drains, the processor and agent runs stop, the outbox's senders are awaited, and the store closes last.
public final class Daemon: Service, Sendable {
    public let runtime: DaemonRuntime
    let options: DaemonOptions
    let control: ControlServer?
    /// The reply processor (debounce, claim, respond, queue).
    public let processor: Processor
    let ingest: IngestPipeline
    private let readiness = ListenerReadiness()
    private let metricsReadiness = ListenerReadiness()
    /// Start order; the group stops them in reverse. See docs/ARCHITECTURE.md.
    let services: [(name: String, service: any Service)]

    /// Opens the store and checks the configuration; errors here are start-up errors with one clear line.
    public init(config: DMDeskConfig, options: DaemonOptions = DaemonOptions(), logger: Logger) throws {
        if config.appSecret == nil && !options.allowUnsigned { throw DaemonError.unsignedNotAllowed }
        let runtime = try DaemonRuntime(config: config, options: options, logger: logger)
        self.runtime = runtime
        self.options = options
        var agentPrompt: String? = nil
        if config.responder == "agent" {
            do { agentPrompt = try AgentPrompt.load(path: config.llmPromptFile) } catch {
                throw DaemonError.configuration(error.description)
            }
        }
        let store = runtime.store
        let fanOut = runtime.fanOut
        let makeAgent: ((Responder, @escaping AgentRunner.Finished) -> AgentRunner)? = agentPrompt.map { prompt in
            { responder, finished in
                AgentRunner(
                    store: store, redis: runtime.redis, graph: runtime.graph, fanOut: fanOut, config: config, logger: logger,
                    responder: responder, prompt: prompt, metrics: runtime.metrics, onFinished: finished)
            }
        }
        let processor = Processor(
            store: store, config: config, logger: logger, committer: runtime.outbox.committer, fanOut: fanOut,
            backoffBaseMillis: EpochMillis(options.graphRetryPolicy.baseDelay.milliseconds), clock: options.clock,
            metrics: runtime.metrics, agent: makeAgent)
        self.processor = processor
        let bus = runtime.bus
        let profiles = runtime.profiles
        let ingest = IngestPipeline(
            store: runtime.store, redis: runtime.redis, options: IngestOptions(echoTakeover: config.echoTakeover),
            logger: logger,
            publish: { events in
                bus.publish(events)
                profiles.consider(events)
            },
            notifyThreads: { threads in processor.notify(threads) },
            submitOutbound: { records in for record in records { fanOut.submit(record) } })
        self.ingest = ingest
        let notifier = ManagerNotifier(config: config, store: store, fanOut: fanOut)
        let snoozes = SnoozeWaker(store: store, fanOut: fanOut, clock: options.snoozeClock, logger: logger)
        let control =
            options.controlSocket
            ? ControlServer(
                path: config.socketPath, service: DaemonControlService(
                    store: store, config: config, fanOut: fanOut, health: runtime.health, notifier: notifier,
                    tokenRefresher: runtime.tokenRefresher, sync: runtime.sync, snoozes: snoozes), bus: bus, logger: logger)
            : nil
        self.control = control

        let router = Router()
        router.add(middleware: BodyCodingCheck())
        WebhookRoutes(config: config, logger: logger, health: runtime.health, ingest: ingest, metrics: runtime.metrics)
            .register(on: router)
        InternalRoutes(store: store, config: config, logger: logger, fanOut: fanOut, ingest: ingest).register(on: router)
        let readiness = self.readiness
        let health = runtime.health
        let systemd = options.systemd
        let app = Application(
            router: router,
            server: GuardedHTTP1Channel.builder(limiter: runtime.connectionLimiter),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                health.listener = "\(config.host):\(port)"
                logger.info("webhook listener ready", metadata: ["address": "\(config.host):\(port)"])
                readiness.set(.success(port))
                // The store is open (init) and the control socket claimed (run, before the group): all parts are up.
                systemd.send("READY=1")
            },
            logger: logger)

        let outboxResumed = StartupGate()
        let processorStarted = StartupGate()
        let senderGrace: Duration = .seconds(2)
        var services: [(name: String, service: any Service)] = [
            ("store", StoreService(store: runtime.store, quickCheckInterval: .milliseconds(config.quickCheckIntervalMs), logger: logger)),
            ("status", StatusWatchService(
                redis: runtime.redis, token: runtime.token, health: health,
                tokenAlert: TokenAlert(notifier: notifier, config: config, logger: logger))),
        ]
        if let address = config.metricsAddress {
            services.append(("metrics", MetricsService(
                address: address, metrics: runtime.metrics, health: health, store: store, processor: processor,
                control: control, readiness: metricsReadiness, logger: logger)))
        } else {
            metricsReadiness.set(.failure(DaemonError.configuration("metrics are off (DMDESK_METRICS_ADDR)")))
        }
        services += [
            ("retention", RetentionService(
                pruner: RetentionPruner(config: config, store: store, redis: runtime.redis, bus: bus, logger: logger),
                interval: config.pruneInterval.duration)),
            ("token", TokenRefreshService(refresher: runtime.tokenRefresher)),
            // Before the control socket (stopped after it): a snooze set by the last request is still re-armed.
            ("snooze", SnoozeService(waker: snoozes)),
            ("outbox", OutboxService(outbox: runtime.outbox, profiles: profiles, resumed: outboxResumed, grace: senderGrace)),
            ("processor", ProcessorService(processor: processor, outboxResumed: outboxResumed, started: processorStarted)),
            ("ingest", IngestService(ingest: ingest)),
            // After the Graph callers' service (stopped before it: no Graph call after the outbox's), before the
            // listener (stopped after it: the last webhook's time is written once no more can arrive).
            ("webhooks", WebhookHealthService(
                webhooks: runtime.webhooks, store: store, sync: runtime.sync, health: health, logger: logger)),
        ]
        if let every = config.syncEvery { services.append(("sync", SyncService(sync: runtime.sync, every: every, logger: logger))) }
        if let control { services.append(("control", ControlSocketService(server: control))) }
        services.append(("listener", ListenerService(
                    app: app, host: config.host, port: config.port, readiness: readiness, partsStarted: processorStarted)))
        // Last, so the first told to stop: STOPPING=1 as soon as the graceful shutdown begins.
        services.append(("systemd", SystemdWatchdogService(notify: systemd, logger: logger)))
        self.services = services
    }

    /// Waits until the metrics listener is bound and returns its port (with `DMDESK_METRICS_ADDR`; throws when off).
    public func waitUntilMetricsListening() async throws -> Int {
        try await metricsReadiness.wait()
    }

    /// Waits until the listener is bound and returns its port (useful with PORT=0).
    public func waitUntilListening() async throws -> Int {
        try await readiness.wait()
    }

    public func run() async throws {
        let logger = runtime.logger
        if runtime.config.appSecret == nil {
            logger.warning("INSTAGRAM_APP_SECRET is not set: webhook signatures are NOT checked (--allow-unsigned)")
        }
        if let control {
            // Claimed before any part starts: a live daemon on this socket (and so on this data) is never displaced.
            do { try control.start() } catch {
                let failure = DaemonError.configuration("\(error)")
                readiness.set(.failure(failure))
                try? await runtime.store.close()
                throw failure
            }
            logger.info("control socket ready", metadata: ["path": "\(control.path)"])
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services.map {
                    .init(
                        service: $0.service, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                logger: logger))
        try await group.run()
        logger.info("dmdesk daemon stopped")
    }

    static func describeListenError(_ error: Error, host: String, port: Int) -> Error {
        let text = "\(error)"
        if text.contains("Address already in use") || text.contains("errno: 98") {
            return DaemonError.portInUse(host: host, port: port)
        }
        return DaemonError.listenFailed(text)
    }
}
