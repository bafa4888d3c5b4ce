import DMDeskCore
import DMDeskGraph
import DMDeskTesting
import Foundation
import Testing

@Suite("GraphClient against the stand-in")
struct GraphClientTests {
    @Test func sendTextPostsExactBodyWithBearerToken() async throws {
        try await withFakeGraph { fake, client in
            let result = try await client.sendText(recipient: "17841", text: "Hello there")
            #expect(result == SendResult(recipientId: "17841", messageId: "m_fake_1"))

            let requests = fake.requests()
            try #require(requests.count == 1)
            #expect(requests[0].method == "POST")
            #expect(requests[0].path == "/v24.0/me/messages")
            #expect(requests[0].authorization == "Bearer \(testToken)")
            #expect(requests[0].body == ["recipient": ["id": "17841"], "message": ["text": "Hello there"]])
            #expect(fake.sentTexts(to: "17841") == ["Hello there"])
            #expect(fake.sentTexts(to: "other").isEmpty)
        }
    }

    @Test func humanAgentTagAddsMessageTag() async throws {
        try await withFakeGraph { fake, client in
            _ = try await client.sendText(recipient: "9", text: "Sorry for the wait", humanAgentTag: true)
            #expect(
                fake.requests().first?.body
                    == [
                        "recipient": ["id": "9"], "message": ["text": "Sorry for the wait"],
                        "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                    ])
        }
    }

    @Test func sendAttachmentPostsMessageAttachmentWithPayloadURL() async throws {
        try await withFakeGraph { fake, client in
            let result = try await client.sendAttachment(
                recipient: "9", attachment: OutgoingAttachment(type: .video, url: "https://cdn.example.com/v.mp4"), humanAgentTag: true)
            #expect(result.messageId == "m_fake_1")
            #expect(
                fake.requests().first?.body
                    == [
                        "recipient": ["id": "9"],
                        "message": ["attachment": ["type": "video", "payload": ["url": "https://cdn.example.com/v.mp4"]]],
                        "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                    ])
        }
    }

    @Test("the stand-in refuses media as Meta does, with Meta's codes", arguments: [
        ("https://cdn.example.com/a.tiff", AttachmentKind.image, 2018047),
        ("https://cdn.example.com/a.mp3", AttachmentKind.audio, 2018047),
        ("https://cdn.example.com/a.png?fake_bytes=8388609", AttachmentKind.image, 2018109),
        ("https://cdn.example.com/a.mp4?fake_bytes=26214401", AttachmentKind.video, 2018109),
        ("https://down.invalid/a.pdf", AttachmentKind.file, 2018008),
    ])
    func standInRefusesMedia(url: String, type: AttachmentKind, subcode: Int) async throws {
        try await withFakeGraph { fake, client in
            do {
                _ = try await client.sendAttachment(recipient: "9", attachment: OutgoingAttachment(type: type, url: url))
                Issue.record("\(url) was accepted")
            } catch let error as GraphError {
                #expect(error.kind == .meta && error.status == 400 && error.subcode == subcode, "\(error)")
                #expect(error.attachmentRefusal != nil && !error.isRetryable)
            }
            #expect(fake.instagramMessages().isEmpty)
            // At the limit, and without an extension, it is taken.
            _ = try await client.sendAttachment(
                recipient: "9", attachment: OutgoingAttachment(type: .image, url: "https://cdn.example.com/a.png?fake_bytes=8388608"))
            _ = try await client.sendAttachment(recipient: "9", attachment: OutgoingAttachment(type: .file, url: "https://cdn.example.com/doc"))
            #expect(fake.instagramMessages().count == 2)
        }
    }

    @Test func reactAndUnreactBodies() async throws {
        try await withFakeGraph { fake, client in
            let reacted = try await client.react(recipient: "5", messageId: "mid.abc", reaction: "love")
            #expect(reacted.recipientId == "5")
            _ = try await client.react(recipient: "5", messageId: "mid.abc", reaction: nil)

            let bodies = fake.requests().map(\.body)
            #expect(
                bodies == [
                    [
                        "recipient": ["id": "5"], "sender_action": "react",
                        "payload": ["message_id": "mid.abc", "reaction": "love"],
                    ],
                    ["recipient": ["id": "5"], "sender_action": "unreact", "payload": ["message_id": "mid.abc"]],
                ])
            #expect(fake.sentTexts().isEmpty)  // reactions are not texts
        }
    }

    @Test func profileFetchUsesFieldsAndBearer() async throws {
        try await withFakeGraph { fake, client in
            fake.setProfile("4242", name: "Ada Lovelace", username: "ada")
            let profile = try await client.profile(igsid: "4242")
            #expect(profile.id == "4242")
            #expect(profile.name == "Ada Lovelace")
            #expect(profile.username == "ada")
            #expect(profile.profilePic?.isEmpty == false)

            let request = try #require(fake.requests().first)
            #expect(request.method == "GET")
            #expect(request.path == "/v24.0/4242")
            #expect(request.query == "fields=name,username,profile_pic")
            #expect(request.authorization == "Bearer \(testToken)")
        }
    }

    @Test func unknownProfileGetsGeneratedUsername() async throws {
        try await withFakeGraph { _, client in
            let profile = try await client.profile(igsid: "123456789")
            #expect(profile.username == "customer_456789")
            #expect(profile.name == nil)
        }
    }

    @Test func conversationMessagesQueriesByUser() async throws {
        try await withFakeGraph { fake, client in
            let messages = try await client.conversationMessages(igsid: "77", limit: 20)
            #expect(messages.isEmpty)
            let request = try #require(fake.requests().first)
            #expect(request.path == "/v24.0/me/conversations")
            #expect(request.query.contains("user_id=77"))
            #expect(request.query.removingPercentEncoding?.contains("messages.limit(20){id,message,from,created_time}") == true)
        }
    }

    @Test func whatsAppTextBodyAndPath() async throws {
        // The stand-in checks a single token; this test is about which token and body we send, so it checks none.
        try await withFakeGraph(expectedToken: nil, settings: { $0.whatsappToken = "wa-token" }) { fake, client in
            let result = try await client.sendWhatsApp(to: "4915112345678", text: "Thread @ada needs a person")
            #expect(result.recipientId == "4915112345678")
            #expect(result.messageId?.hasPrefix("wamid.fake") == true)

            let request = try #require(fake.requests().first)
            #expect(request.method == "POST")
            #expect(request.path == "/v24.0/1055/messages")
            #expect(request.authorization == "Bearer wa-token")
            #expect(
                request.body
                    == [
                        "messaging_product": "whatsapp", "to": "4915112345678", "type": "text",
                        "text": ["body": "Thread @ada needs a person"],
                    ])
            #expect(fake.whatsAppMessages().count == 1)
        }
    }

    @Test func whatsAppTemplateBodyAndTokenFallback() async throws {
        // No whatsappToken configured: the Instagram token is used.
        try await withFakeGraph { fake, client in
            let result = try await client.sendWhatsAppTemplate(
                to: "4915112345678", template: "handover_alert", language: "de_DE", bodyText: "Ada wants a person")
            #expect(result.messageId?.hasPrefix("wamid.fake") == true)
            let request = try #require(fake.requests().first)
            #expect(request.authorization == "Bearer \(testToken)")
            #expect(
                request.body
                    == [
                        "messaging_product": "whatsapp", "to": "4915112345678", "type": "template",
                        "template": [
                            "name": "handover_alert", "language": ["code": "de_DE"],
                            "components": [
                                ["type": "body", "parameters": [["type": "text", "text": "Ada wants a person"]]]
                            ],
                        ],
                    ])
        }
    }

    /// With a setting left out, `call` fails before any request with an error that is not retried; returns it.
    func refusedWithoutACall(
        settings: (inout GraphSettings) -> Void, _ call: @escaping (GraphClient) async throws(GraphError) -> Void
    ) async throws -> GraphError {
        try await withFakeGraph(settings: settings) { fake, client in
            let error = try await #require(throws: GraphError.self) { try await call(client) }
            #expect(!error.isRetryable)
            #expect(fake.requests().isEmpty)
            return error
        }
    }

    @Test func missingWhatsAppPhoneNumberIdFailsWithoutACall() async throws {
        let error = try await refusedWithoutACall(settings: { $0.whatsappPhoneNumberId = nil }) { client throws(GraphError) in
            _ = try await client.sendWhatsApp(to: "1", text: "x")
        }
        #expect(error.description.contains("phone number id"))
    }

    @Test func missingAccessTokenIsANonRetryableConfigurationError() async throws {
        let error = try await refusedWithoutACall(settings: { $0.accessToken = nil }) { client throws(GraphError) in
            _ = try await client.sendText(recipient: "1", text: "hi")
        }
        #expect(error.description.contains("access token"))
        #expect(error.description.contains("not configured"))
    }

    @Test func wrongTokenGets190FromStandIn() async throws {
        try await withFakeGraph(settings: { $0.accessToken = "stale-token" }) { fake, client in
            let error = try await #require(throws: GraphError.self) {
                try await client.sendText(recipient: "1", text: "hi")
            }
            #expect(error.status == 401)
            #expect(error.isTokenInvalid)
            #expect(!error.isRetryable)
            #expect(!error.description.contains("stale-token"))
            #expect(fake.sentTexts().isEmpty)
        }
    }

    @Test func textOverThousandBytesRefusedLikeMeta() async throws {
        try await withFakeGraph { fake, client in
            let error = try await #require(throws: GraphError.self) {
                try await client.sendText(recipient: "1", text: String(repeating: "é", count: 501))  // 1002 bytes
            }
            #expect(error.status == 400)
            #expect(error.code == 100)
            #expect(!error.isRetryable)
            _ = try await client.sendText(recipient: "1", text: String(repeating: "é", count: 500))  // exactly 1000
            #expect(fake.sentTexts().count == 1)
        }
    }

    @Test func nonJSONErrorBodyBecomesHTTPError() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(1, status: 502, rawBody: "<html>Bad Gateway</html>")
            let error = try await #require(throws: GraphError.self) {
                try await client.sendText(recipient: "1", text: "hi")
            }
            #expect(error.kind == .http(status: 502))
            #expect(error.status == 502)
            #expect(error.code == nil)
            #expect(error.isRetryable)
            #expect(error.description.contains("502"))
        }
    }

    @Test func closedPortIsARetryableNetworkError() async throws {
        let fake = FakeGraphAPI()
        try await fake.start()
        let base = fake.instagramBaseURL
        await fake.stop()
        let client = GraphClient(
            settings: GraphSettings(instagramBaseURL: base, accessToken: "t", requestTimeout: .seconds(1)))
        let error = try await #require(throws: GraphError.self) {
            try await client.sendText(recipient: "1", text: "hi")
        }
        guard case .network = error.kind else {
            Issue.record("expected a network error, got \(error)")
            return
        }
        #expect(error.isRetryable)
    }

    @Test func metaMessageNeverLeaksTheToken() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(1, status: 400, code: 190, subcode: 460, message: "token \(testToken) was revoked")
            let error = try await #require(throws: GraphError.self) {
                try await client.sendText(recipient: "1", text: "hi")
            }
            #expect(error.isTokenInvalid)
            #expect(error.subcode == 460)
            #expect(error.fbtraceId?.isEmpty == false)
            #expect(!error.description.contains(testToken))
            #expect(error.description.contains("access token invalid or expired (Meta code 190/460)"))
        }
    }
}
