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
    public init(allowUnsigned: Bool = false, graphRetryPolicy: RetryPolicy = .default, controlSocket: Bool = true) {
        self.allowUnsigned = allowUnsigned
        self.graphRetryPolicy = graphRetryPolicy
        self.controlSocket = controlSocket
    }
}

/// The headless daemon as one service: webhook listener, ingest pipeline, Redis reconnects.
/// `run()` returns after a graceful shutdown: stop accepting, finish requests in flight, close the database.
public final class Daemon: Service, Sendable {
    public let runtime: DaemonRuntime
    let options: DaemonOptions
    let control: ControlServer?
    /// The reply processor (debounce, claim, respond, queue).
    public let processor: Processor
    private let listening = Mutex<ListeningState>(.waiting([]))

    enum ListeningState {
        case waiting([CheckedContinuation<Int, Error>])
        case listening(Int)
        case failed(Error)
    }

    /// Opens the store and checks the configuration; errors here are start-up errors with one clear line.
    public init(config: DMDeskConfig, options: DaemonOptions = DaemonOptions(), logger: Logger) throws {
        if config.appSecret == nil && !options.allowUnsigned { throw DaemonError.unsignedNotAllowed }
        runtime = try DaemonRuntime(config: config, options: options, logger: logger)
        self.options = options
        var agentPrompt: String? = nil
        if config.responder == "agent" {
            do { agentPrompt = try AgentPrompt.load(path: config.llmPromptFile) } catch {
                throw DaemonError.configuration(error.description)
            }
        }
        let processor = Processor(
            runtime: runtime,
            backoffBaseMillis: EpochMillis(options.graphRetryPolicy.baseDelay.milliseconds),
            agentPrompt: agentPrompt)
        self.processor = processor
        runtime.ingest.notifyThreads = { threads in processor.notify(threads) }
        if options.controlSocket {
            control = ControlServer(
                path: config.socketPath, service: DaemonControlService(runtime: runtime), bus: runtime.bus, logger: logger)
        } else {
            control = nil
        }
    }

    /// Waits until the listener is bound and returns its port (useful with PORT=0).
    public func waitUntilListening() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            listening.withLock { state in
                switch state {
                case .waiting(var list):
                    list.append(continuation)
                    state = .waiting(list)
                case .listening(let port): continuation.resume(returning: port)
                case .failed(let error): continuation.resume(throwing: error)
                }
            }
        }
    }

    private func setListening(_ result: Result<Int, Error>) {
        let waiters: [CheckedContinuation<Int, Error>] = listening.withLock { state in
            guard case .waiting(let list) = state else { return [] }
            switch result {
            case .success(let port): state = .listening(port)
            case .failure(let error): state = .failed(error)
            }
            return list
        }
        for w in waiters { w.resume(with: result) }
    }

    public func run() async throws {
        let logger = runtime.logger
        let config = runtime.config
        if config.appSecret == nil {
            logger.warning("INSTAGRAM_APP_SECRET is not set: webhook signatures are NOT checked (--allow-unsigned)")
        }
        if let control {
            // A live daemon on this socket is never displaced: refuse to start instead.
            do { try control.start() } catch {
                let failure = DaemonError.configuration("\(error)")
                setListening(.failure(failure))
                throw failure
            }
            logger.info("control socket ready", metadata: ["path": "\(control.path)"])
        }
        runtime.redis.ensureConnected()
        runtime.ingest.start()
        await runtime.outbox.resumePending()
        await processor.start()
        runtime.store.startIntegrityChecks(every: .milliseconds(config.quickCheckIntervalMs))

        let limiter = ConnectionLimiter(limits: Self.listenerLimits(config: config, logger: logger))
        runtime.connectionLimiter = limiter
        let router = Router()
        router.add(middleware: BodyCodingCheck())
        WebhookRoutes(runtime: runtime).register(on: router)
        InternalRoutes(runtime: runtime).register(on: router)
        let app = Application(
            router: router,
            server: GuardedHTTP1Channel.builder(limiter: limiter),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
            onServerRunning: { [runtime] channel in
                let port = channel.localAddress?.port ?? config.port
                runtime.listener = "\(config.host):\(port)"
                logger.info("webhook listener ready", metadata: ["address": "\(config.host):\(port)"])
                self.setListening(.success(port))
            },
            logger: logger)

        let redisWatch = Task.detached { [runtime] in
            // Reconnects in the background so /health is right even when no messages arrive; tells consoles when
            // Redis or SQLite changes (a `daemon.status` event is journaled, so while writes fail it is retried).
            var wasUp = runtime.redis.state.up
            var announcedStore = StoreHealthReport.Verdict.up
            var loggedStore = StoreHealthReport.Verdict.up
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                let isUp = runtime.redis.ensureConnected()
                let store = await runtime.storeHealth()
                if store.verdict != loggedStore {
                    runtime.logStoreChange(store, from: loggedStore)
                    loggedStore = store.verdict
                }
                if isUp != wasUp || store.verdict != announcedStore {
                    if await runtime.publishStatus() { announcedStore = store.verdict }
                }
                wasUp = isUp
            }
        }
        defer { redisWatch.cancel() }

        do {
            try await app.run()
        } catch {
            let described = Self.describeListenError(error, host: config.host, port: config.port)
            setListening(.failure(described))
            await shutdownParts()
            throw described
        }
        logger.info("shutting down: listener closed, finishing stored work")
        redisWatch.cancel()
        await shutdownParts()
        logger.info("dmdesk daemon stopped")
    }

    private func shutdownParts() async {
        control?.stop()
        runtime.ingest.stop()
        processor.stop()
        runtime.redis.close()
        try? await runtime.store.close()
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

    static func describeListenError(_ error: Error, host: String, port: Int) -> Error {
        let text = "\(error)"
        if text.contains("Address already in use") || text.contains("errno: 98") {
            return DaemonError.portInUse(host: host, port: port)
        }
        return DaemonError.listenFailed(text)
    }
}
