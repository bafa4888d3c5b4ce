import DMDeskCore
import DMDeskTesting
import Foundation
import Testing

@Suite("Signatures and webhook parsing")
struct WebhookParsingTests {
    @Test("every fixture's recorded signature verifies over its exact bytes, and fails for a flipped byte")
    func fixtureSignatures() throws {
        let fixtures = try WebhookFixture.all()
        #expect(fixtures.count == 15)
        for f in fixtures {
            try f.body.withUnsafeBytes { try WebhookSignature.verify(header: f.signature, secret: WebhookFixture.appSecret, body: $0) }
            #expect(WebhookSignature.header(secret: WebhookFixture.appSecret, body: f.body) == f.signature)
            var flipped = f.body
            flipped[flipped.count / 2] ^= 0x01
            #expect(throws: WebhookSignature.Failure.mismatch) {
                try flipped.withUnsafeBytes { try WebhookSignature.verify(header: f.signature, secret: WebhookFixture.appSecret, body: $0) }
            }
        }
    }

    @Test("missing and malformed headers are told apart")
    func headerShapes() {
        let body = Data("{}".utf8)
        #expect(throws: WebhookSignature.Failure.missing) { try body.withUnsafeBytes { try WebhookSignature.verify(header: nil, secret: "s", body: $0) } }
        #expect(throws: WebhookSignature.Failure.malformed) { try body.withUnsafeBytes { try WebhookSignature.verify(header: "sha256=abc", secret: "s", body: $0) } }
        #expect(throws: WebhookSignature.Failure.malformed) { try body.withUnsafeBytes { try WebhookSignature.verify(header: "md5=00", secret: "s", body: $0) } }
    }

    @Test("HMAC-SHA256 and SHA-256 match known vectors")
    func vectors() {
        // RFC 4231 test case 2.
        #expect(Crypto.hex(Crypto.hmacSHA256(key: "Jefe", bytes: Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Crypto.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Crypto.randomBytes(32).count == 32)
        #expect(Crypto.randomBytes(32) != Crypto.randomBytes(32))
    }

    @Test("every event kind of the fixtures parses to what it is")
    func kinds() throws {
        func events(_ name: String) throws -> [WebhookEvent] { try WebhookParser.parse(WebhookFixture.named(name).body).events }
        #expect(try events("batch.json").count == 3)
        guard case .message(let echo) = try events("echo.json")[0].kind else { Issue.record("echo"); return }
        #expect(echo.isEcho)
        #expect(try events("echo.json")[0].customerId == "1150723386611240")
        guard case .reaction(let r) = try events("reaction.json")[0].kind else { Issue.record("reaction"); return }
        #expect(r.reaction == "love" && r.emoji == "❤️")
        guard case .reaction(let u) = try events("unreaction.json")[0].kind else { Issue.record("unreaction"); return }
        #expect(u.action == "unreact" && u.reaction == nil)
        guard case .read(let mid, _) = try events("read.json")[0].kind else { Issue.record("read"); return }
        #expect(mid == "mid.echo.0001")
        guard case .postback(let p) = try events("postback.json")[0].kind else { Issue.record("postback"); return }
        #expect(p.payload == "HUMAN_AGENT")
        let standby = try events("standby.json")[0]
        #expect(standby.source == .standby)
        let dash = try events("dashboard_test_changes.json")[0]
        #expect(dash.source == .changes && dash.senderId == "12334" && dash.timestamp == 1_527_459_824_000)
    }

    @Test("unknown kinds are kept, not dropped; other objects yield no events; non-objects are errors")
    func unknownAndBad() throws {
        let body = Data(#"{"object":"instagram","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"optin":{"ref":"x"}}]}]}"#.utf8)
        let parsed = try WebhookParser.parse(body)
        #expect(parsed.events.count == 1)
        #expect(parsed.events[0].kind == .unknown("optin"))
        #expect(try WebhookParser.parse(Data(#"{"object":"page","entry":[]}"#.utf8)).events.isEmpty)
        #expect(throws: WebhookParseError.notAnObject) { try WebhookParser.parse(Data("[]".utf8)) }
        #expect(throws: WebhookParseError.self) { try WebhookParser.parse(Data("{".utf8)) }
        #expect(throws: WebhookParseError.missingEntries) { try WebhookParser.parse(Data(#"{"object":"instagram"}"#.utf8)) }
    }
}
