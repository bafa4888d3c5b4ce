import DMDeskControl
import DMDeskCore
import DMDeskStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `GET /metrics` in Prometheus text format on `DMDESK_METRICS_ADDR`: a listener of its own, so metrics never reach
/// the public webhook port. Before each scrape the gauges that mirror the daemon's state are read.
struct MetricsService: Service {
    private let listener: any Service

    init(
        address: HostPort, metrics: DaemonMetrics, health: HealthReporter, store: any InboxStore, processor: Processor,
        control: ControlServer?, readiness: ListenerReadiness, logger: Logger
    ) {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            await Self.refreshGauges(metrics: metrics, health: health, store: store, processor: processor, control: control)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition() ?? "")))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                logger.info("metrics listener ready", metadata: ["address": "\(address.host):\(port)"])
                readiness.set(.success(port))
            },
            logger: logger)
        listener = ListenerService(app: app, host: address.host, port: address.port, readiness: readiness, partsStarted: nil)
    }

    func run() async throws { try await listener.run() }

    static func refreshGauges(
        metrics: DaemonMetrics, health: HealthReporter, store: any InboxStore, processor: Processor, control: ControlServer?
    ) async {
        if let outbox = try? await store.outboxCounts() {
            for status in [OutboundRecord.Status.pending, .sending, .failed] {
                metrics.gauge("dmdesk_outbox_rows", [("status", status.rawValue)], Double(outbox[status] ?? 0))
            }
        }
        if let processing = try? await store.processingCounts() {
            for status in [ProcessingStatus.pending, .processing] {
                metrics.gauge("dmdesk_inbound_messages", [("status", status.rawValue)], Double(processing[status] ?? 0))
            }
        }
        metrics.gauge("dmdesk_processor_threads_scheduled", [], Double(processor.idleState.scheduled))
        metrics.gauge("dmdesk_consoles_attached", [], Double(control?.stats.connectedClients ?? 0))
        metrics.gauge("dmdesk_redis_up", [], health.redis.state.up ? 1 : 0)
        metrics.gauge("dmdesk_sqlite_up", [], await health.storeHealth().verdict == .up ? 1 : 0)
        let token = health.tokenState
        for state in ["ok", "invalid", "unset"] {
            metrics.gauge("dmdesk_token_state", [("state", state)], token == state ? 1 : 0)
        }
        if let hours = health.businessHours { metrics.gauge("dmdesk_business_hours_open", [], hours == "open" ? 1 : 0) }
    }
}
