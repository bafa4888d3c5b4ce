import AsyncHTTPClient
import DMDeskCore
@testable import DMDeskDaemon
import DMDeskTesting
import Foundation
import Testing

/// One sample of Prometheus text: a name, its labels, a value.
struct MetricSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double

    /// Parses the text format's sample lines (`name{a="b",c="d"} 1.5`); comments and blank lines are skipped, and a
    /// line that is neither fails the test.
    static func parse(_ text: String) -> [MetricSample] {
        var samples: [MetricSample] = []
        for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") && !line.isEmpty {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                Issue.record("not a sample line: \(line)")
                continue
            }
            let head = String(line[..<space])
            var labels: [String: String] = [:]
            var name = head
            if let open = head.firstIndex(of: "{"), head.hasSuffix("}") {
                name = String(head[..<open])
                let inner = head[head.index(after: open)..<head.index(before: head.endIndex)]
                for pair in inner.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { continue }
                    labels[String(kv[0])] = String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            }
            samples.append(MetricSample(name: name, labels: labels, value: value))
        }
        return samples
    }
}

extension Array where Element == MetricSample {
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
    }
}

@Suite("Prometheus metrics on DMDESK_METRICS_ADDR: scraped over real HTTP and parsed", .serialized)
struct MetricsTests {
    func scrape(port: Int) async throws -> (status: UInt, contentType: String?, samples: [MetricSample]) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 22)
        return (response.status.code, response.headers.first(name: "content-type"), MetricSample.parse(String(buffer: body)))
    }

    @Test("after a webhook, a send and a rejected signature the counters moved by exactly that; never on the webhook port")
    func countsWhatHappened() async throws {
        try await ReplyRig.with(env: ["DMDESK_METRICS_ADDR": "127.0.0.1:0"]) { rig in
            let port = try await rig.d.daemon.waitUntilMetricsListening()
            #expect(port != rig.d.port)
            let before = try await scrape(port: port)
            #expect(before.status == 200)
            #expect(before.contentType?.hasPrefix("text/plain") == true)
            #expect(before.samples.value("dmdesk_webhooks_total", ["result": "accepted"]) == 0)

            try await rig.greeted("9100")
            let body = WebhookBuilder.textMessage(from: "9100", text: "forged", mid: "m_forged")
            #expect(try await rig.d.postWebhook(body, signature: "sha256=" + String(repeating: "0", count: 64)).status == 401)
            let broken = Data("{\"object\":\"instagram\",\"entry\":[".utf8)
            #expect(try await rig.d.postWebhook(broken, signature: WebhookBuilder.sign(broken)).status == 400)

            let after = try await scrape(port: port).samples
            #expect(after.value("dmdesk_webhooks_total", ["result": "accepted"]) == 1)
            #expect(after.value("dmdesk_webhooks_total", ["result": "bad_signature"]) == 1)
            #expect(after.value("dmdesk_webhooks_total", ["result": "bad_body"]) == 1)
            #expect(after.value("dmdesk_ingest_duration_seconds_count") == 1, "one accepted delivery timed")
            #expect(after.value("dmdesk_processor_batches_total", ["outcome": "fallback"]) == 1)
            #expect(after.value("dmdesk_answer_latency_seconds_count") == 1)
            #expect(after.value("dmdesk_outbox_sends_total", ["channel": "instagram", "result": "sent", "error_class": "none"]) == 1)
            #expect(after.value("dmdesk_outbox_rows", ["status": "pending"]) == 0)
            #expect(after.value("dmdesk_inbound_messages", ["status": "pending"]) == 0)
            #expect(after.value("dmdesk_redis_up") == 1)
            #expect(after.value("dmdesk_sqlite_up") == 1)
            #expect(after.value("dmdesk_token_state", ["state": "ok"]) == 1)
            #expect(after.value("dmdesk_token_state", ["state": "invalid"]) == 0)
            #expect(after.value("dmdesk_consoles_attached") == 0)
            let all = after.map { "\($0.name) \($0.labels)" }.joined(separator: "\n")
            #expect(!all.contains("9100") && !all.contains(ReplyRig.token), "no customer id or token in a label")

            #expect(try await rig.d.request(.GET, "/metrics").status == 404, "the public webhook port has no /metrics")
        }
    }

    @Test("a refused send is counted by its error class")
    func failedSendClass() async throws {
        // No typing indicator: the injected failure is for the send itself.
        try await ReplyRig.with(env: ["DMDESK_METRICS_ADDR": "127.0.0.1:0", "DMDESK_TYPING": "false"]) { rig in
            let port = try await rig.d.daemon.waitUntilMetricsListening()
            try await rig.greeted("9200")  // the profile lookup is behind us: the next Graph call is the reply
            rig.fake.failNext(1, status: 401, code: 190, message: "Error validating access token: Session has expired")
            try await rig.say("9200", "hello again")
            #expect(await eventually { (try? await scrape(port: port).samples.value("dmdesk_outbox_sends_total", ["result": "failed", "error_class": "token"])) == 1 })
            #expect(try await scrape(port: port).samples.value("dmdesk_token_state", ["state": "invalid"]) == 1)
        }
    }

    @Test("off by default: no metrics listener, nothing recorded")
    func offByDefault() async throws {
        try await ReplyRig.with { rig in
            await #expect(throws: DaemonError.self) { _ = try await rig.d.daemon.waitUntilMetricsListening() }
            #expect(rig.d.daemon.runtime.metrics.exposition() == nil)
        }
    }
}
