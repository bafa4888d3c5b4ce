import DMDeskCore
import DMDeskDaemon
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("Replies: onboarding links, /verify and the ingestion service's internal API")
struct RepliesOnboardingTests {
    static let serviceToken = "internal-service-token-123"
    static let onboardingEnv = [
        "DMDESK_ONBOARDING": "verify-link", "DMDESK_VERIFY_URL": "https://shop.example/verify?token={token}&ig_id={ig_id}",
        "DMDESK_ACK_TEXT": "Thanks! We got your message.", "INTERNAL_SERVICE_TOKEN": serviceToken,
    ]

    /// Pulls the token out of a verification DM.
    static func token(in text: String) -> String? {
        guard let r = text.range(of: "token=") else { return nil }
        return String(text[r.upperBound...].prefix { $0 != "&" && !$0.isWhitespace })
    }

    @Test("unconnected user → one token row and a verification DM; redelivery → nothing new; connected → ack then reply")
    func ingestionServiceCases() async throws {
        try await ReplyRig.with(env: Self.onboardingEnv) { rig in
            let customer = "2200000000000001"
            // 1. Unconnected user.
            let body = WebhookBuilder.textMessage(from: customer, text: "hi, what are your prices?", mid: "m_onb_1")
            #expect(try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            let dm = try await rig.waitForTexts(customer, count: 1)[0]
            #expect(dm.contains("https://shop.example/verify?token="))
            #expect(dm.contains("&ig_id=\(customer)"))
            let token = try #require(Self.token(in: dm))
            #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
            try await rig.waitIdle()
            let rows = try await rig.d.store.verificationTokens(igId: customer)
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row.token_hash == Crypto.sha256Hex(token), "only the hash is stored")
            #expect(row.event_id == "m_onb_1" && row.consumed_at == nil)
            #expect(abs(row.expires_at - row.created_at - 3_600_000) < 1000)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM verification_tokens WHERE token_hash = '\(token)'") == 0)
            let kinds = try await rig.outbox(customer).map(\.kind)
            #expect(kinds == [.verification])
            #expect(!(try rig.redis.list("chat:\(customer)").joined().contains(token)), "the link never goes to Redis")

            // 2. Duplicate delivery of the same event: no token, no DM, no outbox row.
            // The new customer's profile lookup journals its own thread.updated; let it land before counting.
            #expect(await eventually {
                (try? await rig.d.count("SELECT COUNT(*) FROM profiles WHERE id = '\(customer)' AND profile_fetched_at IS NOT NULL")) == 1
            })
            let events = try await rig.d.count("SELECT COUNT(*) FROM events")
            #expect(try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            try await rig.d.waitUntilIdle()
            #expect(try await rig.d.count("SELECT COUNT(*) FROM verification_tokens") == 1)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM outbound_messages") == 1)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM events") == events)
            #expect(rig.texts(customer).count == 1)

            // 3. The customer opens the link: connected. Then a message gets the ack and the reply.
            let wrong = try await rig.d.request(.GET, "/verify?token=\(String(repeating: "0", count: 64))&ig_id=\(customer)")
            #expect(wrong.status == 404 && wrong.body.contains("not valid"))
            let other = try await rig.d.request(.GET, "/verify?token=\(token)&ig_id=999")
            #expect(other.status == 403)
            #expect(try await rig.d.store.thread(customer)?.connected == false, "failed attempts change nothing")
            let ok = try await rig.d.request(.GET, "/verify?token=\(token)&ig_id=\(customer)")
            #expect(ok.status == 200, "\(ok.body)")
            #expect(try await rig.d.store.thread(customer)?.connected == true)
            let again = try await rig.d.request(.GET, "/verify?token=\(token)&ig_id=\(customer)")
            #expect(again.status == 409 && again.body.contains("already been used"))

            try await rig.d.store.addRule(RuleRecord(pattern: "price", matchKind: .contains, reply: "Prices are on the site.", priority: 10, action: .reply))
            try await rig.say(customer, "what about prices?")
            let texts = try await rig.waitForTexts(customer, count: 3)
            #expect(Array(texts.suffix(2)) == ["Thanks! We got your message.", "Prices are on the site."])
            try await rig.waitIdle()
            #expect(try await rig.d.count("SELECT COUNT(*) FROM verification_tokens") == 1, "a connected profile gets no new token")
            #expect(try await rig.outbox(customer).map(\.kind) == [.verification, .acknowledgement, .autoReply])
        }
    }

    @Test("an expired link changes nothing and says so")
    func expiredLink() async throws {
        try await ReplyRig.with(env: Self.onboardingEnv) { rig in
            let customer = "2200000000000002"
            try await rig.say(customer, "hello")
            let token = try #require(Self.token(in: try await rig.waitForTexts(customer, count: 1)[0]))
            try await rig.d.sqlite.pool.write { db in try db.execute(sql: "UPDATE verification_tokens SET expires_at = 1") }
            let reply = try await rig.d.request(.GET, "/verify?token=\(token)&ig_id=\(customer)")
            #expect(reply.status == 410 && reply.body.contains("expired"))
            #expect(try await rig.d.store.thread(customer)?.connected == false)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM verification_tokens WHERE consumed_at IS NOT NULL") == 0)
            let missing = try await rig.d.request(.GET, "/verify?ig_id=\(customer)")
            #expect(missing.status == 400 && missing.body.contains("token"))
        }
    }

    @Test("internal API: 404 without a configured token, 401 with a wrong one, 400 naming the field")
    func internalGuard() async throws {
        try await ReplyRig.with { rig in
            let r = try await rig.d.request(.POST, "/api/internal/send-dm", body: Data("{}".utf8), headers: [("x-service-token", "x")])
            #expect(r.status == 404)
        }
        try await ReplyRig.with(env: Self.onboardingEnv) { rig in
            for headers in [[], [("x-service-token", "nope")], [("x-service-token", Self.serviceToken + "x")]] {
                let r = try await rig.d.request(.POST, "/api/internal/send-dm", body: Data("{}".utf8), headers: headers)
                #expect(r.status == 401)
            }
            let auth = [("x-service-token", Self.serviceToken), ("Content-Type", "application/json")]
            let cases: [(String, String, String)] = [
                ("/api/internal/ingest-event", #"{"sender_ig_id":"1"}"#, "mid"),
                ("/api/internal/ingest-event", #"{"mid":"x","sender_ig_id":"1","timestamp":"yesterday","message_text":"a"}"#, "timestamp"),
                ("/api/internal/generate-verification", #"{"ig_id":"1"}"#, "event_id"),
                ("/api/internal/send-verification-dm", #"{"ig_id":"1"}"#, "token_plain"),
                ("/api/internal/send-dm", #"{"ig_id":"1","message_text":42}"#, "message_text"),
                ("/api/internal/send-dm", #"{"ig_id":"1","message_text":"hi","kind":"spam"}"#, "kind"),
                ("/api/internal/send-dm", "not json", "body"),
            ]
            for (path, body, field) in cases {
                let r = try await rig.d.request(.POST, path, body: Data(body.utf8), headers: auth)
                #expect(r.status == 400, "\(path) \(body): \(r.status) \(r.body)")
                let json = try JSONValue.parse(Data(r.body.utf8))
                #expect(json["field"]?.stringValue == field, "\(path) \(body): \(r.body)")
                #expect(json["success"]?.boolValue == false)
            }
        }
    }

    @Test("internal API: ingest-event, generate-verification, send-verification-dm and send-dm")
    func internalEndpoints() async throws {
        try await ReplyRig.with(env: Self.onboardingEnv) { rig in
            let auth = [("x-service-token", Self.serviceToken), ("Content-Type", "application/json")]
            func post(_ path: String, _ body: JSONValue) async throws -> (Int, JSONValue) {
                let r = try await rig.d.request(.POST, path, body: body.encoded(), headers: auth)
                return (r.status, (try? JSONValue.parse(Data(r.body.utf8))) ?? .null)
            }
            let customer = "2200000000000003"
            // ingest-event takes the webhook path: stored, then answered (here: an onboarding link).
            let (s1, j1) = try await post("/api/internal/ingest-event", [
                "mid": "m_internal_1", "sender_ig_id": .string(customer), "recipient_ig_id": .string(WebhookBuilder.accountId),
                "timestamp": .number(Double(nowMillis())), "message_text": "hello from the service", "attachments": [],
            ])
            #expect(s1 == 200 && j1 == ["success": true, "message": "Event accepted for processing"])
            #expect(try await rig.d.store.message(mid: "m_internal_1")?.text == "hello from the service")
            #expect(try await rig.waitForTexts(customer, count: 1)[0].contains("verify?token="))
            let (s1b, _) = try await post("/api/internal/ingest-event", [
                "mid": "m_internal_1", "sender_ig_id": .string(customer), "message_text": "hello from the service",
            ])
            #expect(s1b == 200)
            try await rig.d.waitUntilIdle()
            #expect(rig.texts(customer).count == 1, "idle after a redelivered event, which created nothing")

            // generate-verification returns the hash, never the plaintext; the same event twice → one row.
            let (s2, j2) = try await post("/api/internal/generate-verification", ["ig_id": "2200000000000004", "event_id": "evt-1"])
            #expect(s2 == 200)
            #expect(j2["token_hash"]?.stringValue?.count == 64 && j2["ig_id"]?.stringValue == "2200000000000004")
            #expect(j2["expires_at"]?.stringValue != nil)
            #expect(j2.objectValue?.keys.contains { $0.contains("plain") } == false)
            let (_, j2b) = try await post("/api/internal/generate-verification", ["ig_id": "2200000000000004", "event_id": "evt-1"])
            #expect(j2b["token_hash"] == j2["token_hash"])
            #expect(try await rig.d.count("SELECT COUNT(*) FROM verification_tokens WHERE event_id = 'evt-1'") == 1)

            // send-verification-dm: the link goes out and works.
            let plain = Crypto.hex(Crypto.randomBytes(32))
            let (s3, j3) = try await post("/api/internal/send-verification-dm", ["ig_id": .string(customer), "token_plain": .string(plain)])
            #expect(s3 == 200 && j3["success"]?.boolValue == true, "\(j3)")
            #expect(j3["remote_message_id"]?.stringValue?.hasPrefix("m_fake_") == true)
            #expect(j3["outbound_message_id"]?.doubleValue != nil)
            #expect(rig.texts(customer).last?.contains(plain) == true)
            #expect(try await rig.d.request(.GET, "/verify?token=\(plain)&ig_id=\(customer)").status == 200)

            // send-dm: a manual message within the window.
            let (s4, j4) = try await post("/api/internal/send-dm", ["ig_id": .string(customer), "message_text": "a person here", "kind": "manual"])
            #expect(s4 == 200 && j4["success"]?.boolValue == true, "\(j4)")
            #expect(rig.texts(customer).last == "a person here")
            let (s5, j5) = try await post("/api/internal/send-dm", ["ig_id": .string(customer), "message_text": .string(String(repeating: "x", count: 1001))])
            #expect(s5 == 400 && j5["field"]?.stringValue == "message_text")
            // Nobody ever wrote from this id: outside the window, refused before any call.
            let calls = rig.fake.requests().count
            let (s6, _) = try await post("/api/internal/send-dm", ["ig_id": "2299999999999999", "message_text": "hello?"])
            #expect(s6 == 422)
            #expect(rig.fake.requests().count == calls)
        }
    }
}
