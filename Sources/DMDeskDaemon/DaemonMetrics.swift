import CoreMetrics
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Prometheus
import Synchronization

/// The daemon's metrics through swift-metrics, each made from this daemon's own factory: Prometheus's over a
/// registry of its own when `DMDESK_METRICS_ADDR` is set (so two daemons in one process never share counters, and
/// no global `MetricsSystem.bootstrap` is needed), else swift-metrics' no-op. Counting is an atomic add; gauges
/// that mirror state the daemon already keeps (queue depths, consoles, Redis, the token) are read at scrape time.
/// Labels are short fixed words, never a customer id or a secret.
public final class DaemonMetrics: Sendable {
    /// Nil when metrics are off.
    public let registry: PrometheusCollectorRegistry?
    private let factory: any MetricsFactory

    public enum WebhookResult: String, CaseIterable, Sendable {
        case accepted, ignored, badSignature = "bad_signature", badBody = "bad_body", tooLarge = "too_large"
        case storeFailed = "store_failed"
    }

    private let webhooks: [WebhookResult: CoreMetrics.Counter]
    private let ingestLatency: CoreMetrics.Timer
    private let answerLatency: CoreMetrics.Timer
    /// Labelled counters, made on first use.
    private let counters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let gauges = Mutex<[String: CoreMetrics.Gauge]>([:])

    public init(enabled: Bool) {
        if enabled {
            let registry = PrometheusCollectorRegistry()
            var prometheus = PrometheusMetricsFactory(registry: registry)
            let latencyBuckets: [Duration] = [
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            ]
            prometheus.durationHistogramBuckets["dmdesk_ingest_duration_seconds"] = latencyBuckets
            prometheus.durationHistogramBuckets["dmdesk_answer_latency_seconds"] = [
                .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(15),
                .seconds(30), .seconds(60), .seconds(300),
            ]
            self.registry = registry
            factory = prometheus
        } else {
            registry = nil
            factory = NOOPMetricsHandler.instance
        }
        var webhooks: [WebhookResult: CoreMetrics.Counter] = [:]
        for result in WebhookResult.allCases {
            webhooks[result] = CoreMetrics.Counter(label: "dmdesk_webhooks_total", dimensions: [("result", result.rawValue)], factory: factory)
        }
        self.webhooks = webhooks
        ingestLatency = CoreMetrics.Timer(label: "dmdesk_ingest_duration_seconds", dimensions: [], factory: factory)
        answerLatency = CoreMetrics.Timer(label: "dmdesk_answer_latency_seconds", dimensions: [], factory: factory)
    }

    public var enabled: Bool { registry != nil }

    // MARK: Recording

    func webhook(_ result: WebhookResult) { webhooks[result]?.increment() }

    /// From the first byte of an accepted delivery to its commit.
    func ingested(after duration: Duration) { ingestLatency.recordNanoseconds(duration.nanoseconds) }

    /// A batch the processor decided, by what it decided (`outcome`), `latency` after the customer's last message.
    func batch(outcome: String, latencyMillis: EpochMillis?) {
        counter("dmdesk_processor_batches_total", [("outcome", outcome)]).increment()
        if let latencyMillis, latencyMillis >= 0 { answerLatency.recordMilliseconds(latencyMillis) }
    }

    /// An outbox row finished: `sent`, or `failed` with Meta's error in a class.
    func send(channel: String, error: GraphError?) {
        let labels = [("channel", channel), ("result", error == nil ? "sent" : "failed"), ("error_class", error.map(Self.errorClass) ?? "none")]
        counter("dmdesk_outbox_sends_total", labels).increment()
    }

    func agentRequest(ok: Bool, promptTokens: Int?, completionTokens: Int?) {
        counter("dmdesk_agent_requests_total", [("result", ok ? "ok" : "error")]).increment()
        if let promptTokens { counter("dmdesk_agent_tokens_total", [("kind", "prompt")]).increment(by: promptTokens) }
        if let completionTokens {
            counter("dmdesk_agent_tokens_total", [("kind", "completion")]).increment(by: completionTokens)
        }
    }

    /// Sets a gauge (read at scrape time from state the daemon keeps anyway).
    func gauge(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        guard enabled else { return }
        Self.cached(gauges, name, labels) { CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory) }.record(value)
    }

    private func counter(_ name: String, _ labels: [(String, String)]) -> CoreMetrics.Counter {
        Self.cached(counters, name, labels) { CoreMetrics.Counter(label: name, dimensions: labels, factory: factory) }
    }

    /// The metric for a name and its labels, made the first time it is asked for.
    private static func cached<Metric>(
        _ cache: borrowing Mutex<[String: Metric]>, _ name: String, _ labels: [(String, String)], make: () -> Metric
    ) -> Metric {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        return cache.withLock { all in
            if let metric = all[key] { return metric }
            let metric = make()
            all[key] = metric
            return metric
        }
    }

    /// Prometheus text format (nil when off).
    public func exposition() -> String? { registry?.emitToString() }

    /// Meta's errors in a few classes an operator acts on differently.
    static func errorClass(_ error: GraphError) -> String {
        switch error.kind {
        case .network: return "network"
        case .http(let status): return status == 429 ? "rate_limited" : (status >= 500 ? "http_5xx" : "http_4xx")
        case .notConfigured: return "not_configured"
        case .invalidResponse: return "invalid_response"
        case .outsideWindow: return "outside_window"
        case .meta:
            if error.isTokenInvalid { return "token" }
            switch error.code {
            case 4, 17, 32, 613: return "rate_limited"
            case 10: return "outside_window"
            case 100, 551: return "rejected"
            default: return (error.status ?? 0) >= 500 ? "meta_5xx" : "meta_other"
            }
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension BatchPlan {
    /// What the bot decided, in a word (the `outcome` label of `dmdesk_processor_batches_total`).
    var outcome: String {
        if handOff { return "agent" }
        if handover { return "handover" }
        if plannedMode == .human { return "human" }
        if verification != nil { return "onboarding" }
        if awayAt != nil { return "away" }
        if fallbackAt != nil { return "fallback" }
        if reason.hasPrefix("rule") { return "rule" }
        return drafts.isEmpty ? "quiet" : "other"
    }
}
