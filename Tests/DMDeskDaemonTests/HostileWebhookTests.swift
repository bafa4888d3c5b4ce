import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

/// The repros of the hardening issue, each through real HTTP into a real daemon: signed bodies that used to crash
/// it, fail a whole delivery for ever, or lose a message after a 200.
@Suite("Hostile webhooks: huge numbers, broken events, NUL, deep nesting, repeated keys")
struct HostileWebhookTests {
    static let customer = "1150723386611240"
    static let textMid = String(
        String(decoding: try! WebhookFixture.named("text.json").body, as: UTF8.self).firstMatch(of: #/"mid":"(\w+)"/#)!.1)

    /// A fixture with one substring replaced, signed anew.
    static func mutated(_ name: String, _ replacements: [(String, String)]) throws -> (body: Data, signature: String) {
        var text = String(decoding: try WebhookFixture.named(name).body, as: UTF8.self)
        for (from, to) in replacements {
            #expect(text.contains(from), "\(name) holds \(from)")
            text = text.replacingOccurrences(of: from, with: to)
        }
        let body = Data(text.utf8)
        return (body, WebhookBuilder.sign(body))
    }

    static func signed(_ text: String) -> (body: Data, signature: String) {
        let body = Data(text.utf8)
        return (body, WebhookBuilder.sign(body))
    }

    /// One delivery for the test account holding these `messaging` events (JSON text each), signed.
    static func signedEvents(_ events: [String]) -> (body: Data, signature: String) {
        signed(#"{"object":"instagram","entry":[{"id":"17841400008460056","time":1,"messaging":["# + events.joined(separator: ",") + "]}]}")
    }

    static func journal(_ d: DaemonHarness, type: String) async throws -> [JournalEvent] {
        try await d.store.journal(after: 0, limit: 10_000).filter { $0.type == type }
    }

    @Test("a timestamp of 2^63 ms or more, in any spelling, is answered 200 and the message stored at its receipt time")
    func hugeTimestamps() async throws {
        try await withDaemon { d, _ in
            let spellings = [
                "1e19", "9.3e18", "1e300", "123456789012345678901234567890", "9223372036854775807", "-1e19",
                #""1e300""#, #""0x1p70""#, #""nan""#, #""inf""#, #""-inf""#, #""9.3e18""#,
            ]
            for (i, spelling) in spellings.enumerated() {
                let before = nowMillis()
                let mid = "mid.huge.\(i)"
                let (body, signature) = try Self.mutated(
                    "text.json", [("\"timestamp\":1732189999123", "\"timestamp\":\(spelling)"), (String(Self.textMid), mid)])
                let reply = try await d.postWebhook(body, signature: signature)
                #expect(reply.status == 200, "\(spelling): \(reply.body)")
                let stored = try #require(try await d.store.message(mid: mid), "\(spelling)")
                #expect(stored.timestamp >= before && stored.timestamp <= nowMillis(), "\(spelling) → \(stored.timestamp)")
            }
            // The thread is not pinned to the top with an absurd time, and the 24-hour window is a real one.
            let thread = try #require(try await d.store.thread(Self.customer))
            #expect(try #require(thread.lastInboundAt) <= nowMillis())
            #expect(try await d.health()["status"] != nil, "the daemon is still up")
        }
    }

    @Test("a timestamp more than a day ahead is not trusted; one an hour ahead is kept; seconds are read as seconds")
    func futureTimestamps() async throws {
        try await withDaemon { d, _ async throws in  // spelled out: every try here is inside a macro
            let hourAhead = nowMillis() + 3_600_000
            let twoDaysAhead = nowMillis() + 2 * 86_400_000
            for (mid, timestamp) in [("mid.future.hour", hourAhead), ("mid.future.days", twoDaysAhead)] {
                let body = WebhookBuilder.textMessage(from: Self.customer, text: "hi", mid: mid, timestamp: timestamp)
                #expect(try await d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            }
            #expect(try await d.store.message(mid: "mid.future.hour")?.timestamp == hourAhead)
            #expect(try #require(try await d.store.message(mid: "mid.future.days")).timestamp < twoDaysAhead - 86_400_000)
            let seconds = nowMillis() / 1000 - 60
            let body = WebhookBuilder.envelope(items: [[
                "sender": ["id": .string(Self.customer)], "recipient": ["id": .string(WebhookBuilder.accountId)],
                "timestamp": .string(String(seconds)), "message": ["mid": "mid.seconds", "text": "as the dashboard sends it"],
            ]])
            #expect(try await d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            #expect(try await d.store.message(mid: "mid.seconds")?.timestamp == seconds * 1000)
        }
    }

    @Test("a read watermark or an edit count out of range does not crash the daemon")
    func hugeWatermarkAndEditCount() async throws {
        try await withDaemon { d, _ in
            let echo = try WebhookFixture.named("echo.json")
            #expect(try await d.post(echo).status == 200)
            for watermark in ["1e19", "1e300", #""nan""#, "123456789012345678901234567890"] {
                let (body, signature) = try Self.mutated("read.json", [(#""read":{"mid":"mid.echo.0001"}"#, #""read":{"watermark":\#(watermark)}"#)])
                let reply = try await d.postWebhook(body, signature: signature)
                #expect(reply.status == 200, "\(watermark): \(reply.body)")
            }
            let original = try #require(try await d.store.message(mid: "mid.echo.0001"))
            #expect(!original.read, "an untrustworthy watermark marks nothing read")
            for (i, count) in ["1e30", "-1e30", #""nan""#, "9223372036854775808", "2.5"].enumerated() {
                let (body, signature) = Self.signedEvents([
                    #"{"sender":{"id":"\#(Self.customer)"},"recipient":{"id":"17841400008460056"},"timestamp":\#(nowMillis()),"#
                        + #""message_edit":{"mid":"mid.echo.0001","text":"edited \#(i)","num_edit":\#(count)}}"#,
                ])
                let edit = try await d.postWebhook(body, signature: signature)
                #expect(edit.status == 200, "\(count): \(edit.body)")
                #expect(try await d.store.message(mid: "mid.echo.0001")?.text == "edited \(i)")
            }
        }
    }

    @Test("the internal ingest-event API refuses an absurd timestamp with a 400 naming the field")
    func internalTimestamp() async throws {
        try await withDaemon(env: ["INTERNAL_SERVICE_TOKEN": "svc-token-123"]) { d, _ in
            let headers = [("x-service-token", "svc-token-123"), ("Content-Type", "application/json")]
            for timestamp in ["1e300", "1e19", #""1e300""#, #""nan""#, "-5"] {
                let body = #"{"mid":"m_int","sender_ig_id":"\#(Self.customer)","message_text":"x","timestamp":\#(timestamp)}"#
                let reply = try await d.request(.POST, "/api/internal/ingest-event", body: Data(body.utf8), headers: headers)
                #expect(reply.status == 400, "\(timestamp): \(reply.body)")
                #expect(reply.body.contains("timestamp"))
            }
            let nul = #"{"mid":"m_int\u0000x","sender_ig_id":"\#(Self.customer)","message_text":"x"}"#
            let refused = try await d.request(.POST, "/api/internal/ingest-event", body: Data(nul.utf8), headers: headers)
            #expect(refused.status == 400 && refused.body.contains("U+0000"), "\(refused.body)")
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 0)
        }
    }

    @Test("an event with a missing, empty, object or bool sender is journaled as invalid; the events beside it are stored")
    func brokenSenders() async throws {
        try await withDaemon { d, _ in
            let third = #"{"sender":{"id":"6939274152812039"},"recipient":"#
            let variants: [(String, String)] = [
                ("missing", #"{"recipient":"#),
                ("empty", #"{"sender":{"id":""},"recipient":"#),
                ("object", #"{"sender":{"id":{"a":1}},"recipient":"#),
                ("bool", #"{"sender":{"id":true},"recipient":"#),
                ("no id", #"{"sender":{},"recipient":"#),
            ]
            for (i, (name, replacement)) in variants.enumerated() {
                let (body, signature) = try Self.mutated(
                    "batch.json",
                    [(third, replacement), ("mid.batch.0001", "mid.b\(i).1"), ("mid.batch.0002", "mid.b\(i).2"), ("mid.batch.0003", "mid.b\(i).3")])
                let reply = try await d.postWebhook(body, signature: signature)
                #expect(reply.status == 200, "\(name): \(reply.body)")
                #expect(try await d.store.message(mid: "mid.b\(i).1")?.text == "first", "\(name)")
                #expect(try await d.store.message(mid: "mid.b\(i).2")?.text == "second", "\(name)")
                #expect(try await d.store.message(mid: "mid.b\(i).3") == nil, "\(name)")
            }
            let invalid = try await Self.journal(d, type: EventType.invalid)
            #expect(invalid.count == variants.count)
            for event in invalid {
                #expect(event.data["reason"]?.stringValue?.contains("sender.id") == true, "\(event.data)")
                #expect(event.data["raw"]?["message"]?["text"] == "third, from someone else", "the raw event is kept")
            }
            // Meta's retry of the same delivery changes nothing more and is still a 200.
            let (body, signature) = try Self.mutated("batch.json", [(third, #"{"recipient":"#), ("mid.batch.0001", "mid.b0.1"), ("mid.batch.0002", "mid.b0.2"), ("mid.batch.0003", "mid.b0.3")])
            #expect(try await d.postWebhook(body, signature: signature).status == 200)
            #expect(try await d.count("SELECT COUNT(*) FROM messages") == 2 * variants.count)
        }
    }

    @Test("an echo without a recipient and a message without a mid are invalid alone")
    func brokenEchoAndMid() async throws {
        try await withDaemon { d, _ in
            let (body, signature) = Self.signedEvents([
                #"{"sender":{"id":"17841400008460056"},"timestamp":\#(nowMillis()),"message":{"mid":"mid.echo.x","text":"ours","is_echo":true}}"#,
                #"{"sender":{"id":"\#(Self.customer)"},"timestamp":\#(nowMillis()),"message":{"text":"no mid"}}"#,
                #"{"sender":{"id":"\#(Self.customer)"},"timestamp":\#(nowMillis()),"message":{"mid":"mid.ok","text":"fine"}}"#,
            ])
            #expect(try await d.postWebhook(body, signature: signature).status == 200)
            #expect(try await d.store.message(mid: "mid.ok")?.text == "fine")
            #expect(try await d.store.message(mid: "mid.echo.x") == nil)
            let reasons = try await Self.journal(d, type: EventType.invalid).compactMap { $0.data["reason"]?.stringValue }
            #expect(reasons.sorted() == ["message.mid is missing", "recipient.id is missing"])
        }
    }

    @Test("U+0000 in a text is stored whole (as U+FFFD) in SQLite, Redis and the journal; mids with U+0000 are refused")
    func nulInTextAndIds() async throws {
        try await withDaemon { d, redis in
            let (body, signature) = Self.signedEvents([
                #"{"sender":{"id":"\#(Self.customer)"},"timestamp":\#(nowMillis()),"message":{"mid":"mid.nultext","text":"before\u0000after"}}"#,
                #"{"sender":{"id":"\#(Self.customer)"},"timestamp":\#(nowMillis()),"message":{"mid":"nulmid\u0000A","text":"A"}}"#,
                #"{"sender":{"id":"\#(Self.customer)"},"timestamp":\#(nowMillis()),"message":{"mid":"nulmid\u0000B","text":"B"}}"#,
            ])
            #expect(try await d.postWebhook(body, signature: signature).status == 200)
            let expected = "before\u{FFFD}after"
            #expect(try await d.store.message(mid: "mid.nultext")?.text == expected)
            #expect(try await d.count("SELECT COUNT(*) FROM messages WHERE mid LIKE 'nulmid%'") == 0, "no truncated mid stored")
            #expect(try await Self.journal(d, type: EventType.invalid).count == 2)
            let received = try await Self.journal(d, type: EventType.messageReceived)
            #expect(received.map { $0.data["text"] } == [.string(expected)])
            #expect(try await eventually { (try? redis.list("chat:\(Self.customer)"))?.contains { $0.contains("after") } == true })
            #expect(try redis.list("chat:\(Self.customer)").contains(#"{"r":"u","t":"before\#u{FFFD}after"}"#))
        }
    }

    @Test("a body nested deeper than 64 levels is refused with 400 by the first reader, the daemon keeps answering")
    func deepNesting() async throws {
        try await withDaemon { d, _ in
            for depth in [65, 256, 500, 5000] {
                let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
                let (body, signature) = Self.signed(#"{"object":"instagram","entry":[],"x":\#(nested)}"#)
                let reply = try await d.postWebhook(body, signature: signature)
                #expect(reply.status == 400, "\(depth)")
                #expect(reply.body.contains("nested deeper than 64"), "\(reply.body)")
            }
            let shallow = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
            let (body, signature) = Self.signed(#"{"object":"instagram","entry":[],"x":\#(shallow)}"#)
            #expect(try await d.postWebhook(body, signature: signature).status == 200)
            #expect(try await d.request(.GET, "/health").status == 200)
        }
    }

    @Test("a repeated key: the last value wins, as for every JSON the daemon reads")
    func duplicateKeys() async throws {
        try await withDaemon { d, _ async throws in  // spelled out: every try here is inside a macro
            let (body, signature) = Self.signedEvents([
                #"{"sender":{"id":"\#(Self.customer)"},"timestamp":\#(nowMillis()),"#
                    + #""message":{"mid":"mid.dup","text":"first","text":"last"},"sender":{"id":"\#(Self.customer)"}}"#,
            ])
            #expect(try await d.postWebhook(body, signature: signature).status == 200)
            #expect(try await d.store.message(mid: "mid.dup")?.text == "last")
        }
    }
}
