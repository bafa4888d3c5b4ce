import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Listener under abuse: connection cap, idle and request deadlines, body codings — real TCP")
struct ListenerAbuseTests {
    /// A webhook request's head for a raw connection, without the blank line that ends it.
    static func head(_ body: Data, contentLength: Int? = nil, extra: [String] = []) -> String {
        var lines = [
            "POST /webhooks/instagram HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            "X-Hub-Signature-256: \(WebhookBuilder.sign(body))",
        ]
        if let length = contentLength ?? (extra.contains { $0.lowercased().hasPrefix("transfer-encoding") } ? nil : body.count) {
            lines.append("Content-Length: \(length)")
        }
        return (lines + extra).joined(separator: "\r\n") + "\r\n"
    }

    static func chunked(_ body: Data) -> Data {
        var out = Data((String(body.count, radix: 16) + "\r\n").utf8)
        out.append(body)
        out.append(Data("\r\n0\r\n\r\n".utf8))
        return out
    }

    @Test("more idle connections than the cap: the oldest idle ones are closed, and a webhook, /health and the control socket still answer")
    func idleFloodOverCap() async throws {
        try await withDaemon(env: ["DMDESK_MAX_CONNECTIONS": "8"]) { d, _ in
            let port = d.port
            let idle = try await onThread { try (0..<24).map { _ in try RawConnection(port: port) } }
            #expect(await eventually { (d.runtime.listenerStats?.accepted ?? 0) >= 24 })
            // Each connection over the cap closed the longest-idle one: 16 of ours are gone, 8 remain.
            #expect(await eventually { idle.filter(\.closedByPeer).count == 16 })
            #expect(d.runtime.listenerStats?.open == 8)

            let fixture = try WebhookFixture.named("text.json")
            #expect(try await d.post(fixture).status == 200)
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 1)

            let reply = try await d.request(.GET, "/health")
            #expect(reply.status == 200)
            let health = try JSONValue.parse(Data(reply.body.utf8))
            #expect(health["connections"]?["max"] == 8)
            #expect((health["connections"]?["open"]?.doubleValue ?? 99) <= 8)
            #expect((health["connections"]?["evicted_idle"]?.doubleValue ?? 0) >= 17, "the webhook's connection made room too")

            let socket = d.dataDir + "/dmdesk.sock"
            let status = try await onThread {
                let client = try ControlClient.connect(path: socket)
                defer { client.close() }
                return try client.request(ControlRequest(id: 1, type: .status))
            }
            #expect(status["status"]?["sqlite"] == "up")
            for connection in idle { connection.close() }
        }
    }

    @Test("every connection mid-request: a new one is accepted and closed at once; when one finishes, requests get in again")
    func busyAtCapRefuses() async throws {
        try await withDaemon(env: ["DMDESK_MAX_CONNECTIONS": "4"]) { d, _ in
            let port = d.port
            let body = WebhookBuilder.textMessage(from: "4040", text: "made it", mid: "busy.1")
            let busy = try await onThread {
                try (0..<4).map { _ in
                    let c = try RawConnection(port: port)
                    c.send(Self.head(body))  // the head, not yet its end
                    return c
                }
            }
            #expect(await eventually {
                guard let s = d.runtime.listenerStats else { return false }
                return s.open == 4 && s.idle == 0
            })
            let extra = try await onThread { try RawConnection(port: port) }
            #expect(await eventually { extra.closedByPeer }, "over the cap with nothing idle: closed")
            #expect(d.runtime.listenerStats?.refused == 1)

            let first = busy[0]
            let response = try await onThread { () -> RawConnection.Response? in
                first.send("\r\n")
                first.send(body)
                return first.readResponse()
            }
            #expect(response?.status == 200)
            #expect(try await d.store.message(mid: "busy.1")?.text == "made it")
            // That connection is idle now, so a new one takes its place.
            #expect(try await d.request(.GET, "/health").status == 200)
            for connection in busy { connection.close() }
        }
    }

    @Test("a body shorter than its Content-Length is closed at the request deadline, and nothing is stored")
    func shortBodyTimesOut() async throws {
        try await withDaemon(env: ["DMDESK_REQUEST_TIMEOUT_MS": "500"]) { d, _ in
            let port = d.port
            let body = WebhookBuilder.textMessage(from: "5050", text: "never finished", mid: "short.1")
            let (text, closed) = try await onThread {
                let c = try RawConnection(port: port)
                c.send(Self.head(body, contentLength: body.count + 100) + "\r\n")
                c.send(body)
                return c.readToEnd()
            }
            #expect(closed, "the daemon closed the connection")
            #expect(text.isEmpty, "without an answer: the request never arrived")
            #expect(d.runtime.listenerStats?.requestTimeouts == 1)
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 0)
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
        }
    }

    @Test("a request fed one byte at a time is closed by its deadline, in the head and in the body")
    func dripFedRequestsTimeOut() async throws {
        try await withRedis { redis in
            // Each byte comes well inside any per-read timeout; only a deadline for the whole request ends these.
            let d = try await DaemonHarness(
                redisURL: redis.url, env: ["DMDESK_REQUEST_TIMEOUT_MS": "1000", "DMDESK_IDLE_TIMEOUT_MS": "600000"])
            let port = d.port
            let body = WebhookBuilder.textMessage(from: "6060", text: "drip", mid: "drip.1")
            @Sendable func drip(_ prefix: String, _ bytes: Data) throws -> Bool {
                let c = try RawConnection(port: port)
                defer { c.close() }
                c.send(prefix)
                for byte in bytes.prefix(300) {  // 300 × 100 ms: the safety net, far past the deadline
                    if !c.send(Data([byte])) || c.closedByPeer { return true }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return false
            }
            // The Content-Length promises more than the drip will ever send.
            async let inBody = onThread {
                try drip(Self.head(body, contentLength: body.count + 1000) + "\r\n", body + Data(repeating: 0x20, count: 300))
            }
            async let inHead = onThread {
                try drip("POST /webhooks/instagram HTTP/1.1\r\n", Data(String(repeating: "X-Slow: yes\r\n", count: 40).utf8))
            }
            #expect(try await inBody, "the body drip was closed")
            #expect(try await inHead, "the head drip was closed")
            #expect(d.runtime.listenerStats?.requestTimeouts == 2)
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 0)
            try await d.stop()
        }
    }

    @Test("an idle connection is closed after the idle timeout")
    func idleTimeout() async throws {
        try await withDaemon(env: ["DMDESK_IDLE_TIMEOUT_MS": "1000"]) { d, _ in
            let port = d.port
            let closed = try await onThread { () -> (Bool, Int?) in
                let c = try RawConnection(port: port)
                // One request, then nothing: the connection goes idle after the response.
                c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let status = c.readResponse()?.status
                return (c.readToEnd().closed, status)
            }
            #expect(closed.1 == 200)
            #expect(closed.0)
            #expect((d.runtime.listenerStats?.idleTimeouts ?? 0) >= 1)
        }
    }

    @Test("Transfer-Encoding other than chunked → 501, Content-Encoding other than identity → 415, before the body is read")
    func bodyCodings() async throws {
        try await withDaemon { d, _ in
            let port = d.port
            let body = WebhookBuilder.textMessage(from: "7070", text: "coded", mid: "coding.1")
            let gzipped = Data([0x1F, 0x8B, 0x08, 0x00]) + body  // what the header claims does not matter: it is refused
            @Sendable func send(_ head: String, _ payload: Data) throws -> RawConnection.Response? {
                let c = try RawConnection(port: port)
                defer { c.close() }
                c.send(head + "\r\n")
                c.send(payload)
                return c.readResponse()
            }
            let te = try await onThread { try send(Self.head(gzipped, extra: ["Transfer-Encoding: gzip, chunked"]), Self.chunked(gzipped)) }
            #expect(te?.status == 501)
            #expect(te?.body.contains("gzip") == true)
            #expect(te?.headers["connection"] == "close")

            let teLines = try await onThread {
                try send(Self.head(gzipped, extra: ["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"]), Self.chunked(gzipped))
            }
            #expect(teLines?.status == 501, "codings over several header lines are one list")

            let ce = try await onThread { try send(Self.head(gzipped, extra: ["Content-Encoding: gzip"]), gzipped) }
            #expect(ce?.status == 415)
            #expect(ce?.body.contains("gzip") == true)
            #expect(ce?.headers["accept-encoding"] == "identity")

            let notLast = try await onThread { try send(Self.head(body, extra: ["Transfer-Encoding: chunked, gzip"]), Self.chunked(body)) }
            #expect(notLast?.status == 400, "chunked not last: the length cannot be known (RFC 9112 §6.3)")
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 0)

            // What is understood still works: chunked alone, and identity.
            let chunkedOnly = try await onThread { try send(Self.head(body, extra: ["Transfer-Encoding: chunked"]), Self.chunked(body)) }
            #expect(chunkedOnly?.status == 200)
            let other = WebhookBuilder.textMessage(from: "7070", text: "plain", mid: "coding.2")
            let identity = try await onThread { try send(Self.head(other, extra: ["Content-Encoding: identity"]), other) }
            #expect(identity?.status == 200)
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 2)
        }
    }

    @Test("the cap leaves descriptors for the rest of the daemon")
    func capFitsDescriptorLimit() {
        #expect(ListenerLimits.maxConnections(configured: 512, descriptorLimit: 1024) == 512)
        #expect(ListenerLimits.maxConnections(configured: 5000, descriptorLimit: 1024) == 1024 - ListenerLimits.reservedDescriptors)
        #expect(ListenerLimits.maxConnections(configured: 5000, descriptorLimit: 100) == 50)
        #expect(ListenerLimits.maxConnections(configured: 5000, descriptorLimit: 1) == 1)
    }
}
