import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

/// Operators sending media by URL, HUMAN_AGENT, and the ingestion service's `kind: "custom"`: through the control
/// socket, `dmdesk send` and `/api/internal/send-dm`, against the Graph stand-in over real HTTP.
@Suite("Sending media, HUMAN_AGENT and custom DMs")
struct SendMediaTests {
    static let hours: EpochMillis = 3_600_000

    /// The customer writes, as Meta delivers it, with the message's own time `ago` in the past: the window's clock.
    static func customerWrote(_ rig: ReplyRig, _ customer: String, ago: EpochMillis, text: String = "hello?") async throws {
        let body = WebhookBuilder.textMessage(
            from: customer, text: text, mid: "m_" + UUID().uuidString, timestamp: nowMillis() - ago)
        #expect(try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
        // The bot answers (the rig answers at once); let it settle so what follows is the operator's alone.
        _ = try await rig.waitForTexts(customer, count: 1)
        try await rig.waitIdle()
    }

    static func socket(_ rig: ReplyRig) throws -> ControlClient {
        try ControlClient.connect(path: rig.d.dataDir + "/dmdesk.sock")
    }

    /// The Send API bodies the stand-in took for `customer` that carried `message.attachment`.
    static func attachmentBodies(_ rig: ReplyRig, _ customer: String) -> [JSONValue] {
        rig.fake.instagramMessages().filter {
            $0["recipient"]?["id"]?.idString == customer && $0["message"]?["attachment"] != nil
        }
    }

    /// Waits for the outbox row to finish and returns it.
    static func settled(_ rig: ReplyRig, _ id: Int64) async throws -> OutboundRecord {
        #expect(await eventually(timeout: 20) {
            let status = try? await rig.d.store.outbound(id: id)?.status
            return status == .sent || status == .failed
        }, "outbox row \(id) never finished")
        return try #require(try await rig.d.store.outbound(id: id))
    }

    @Test("each attachment type goes out as message.attachment {type, payload.url}; stored, shown as sent")
    func eachType() async throws {
        try await ReplyRig.with { rig in
            let customer = "2300000000000001"
            try await Self.customerWrote(rig, customer, ago: 0)
            let client = try Self.socket(rig)
            defer { client.close() }
            let sends: [(AttachmentKind, String)] = [
                (.image, "https://cdn.example.com/p/photo.JPG"), (.video, "https://cdn.example.com/v/clip.mp4"),
                (.audio, "https://cdn.example.com/a/note.m4a"), (.file, "https://cdn.example.com/d/invoice.pdf?x=1"),
            ]
            var ids: [Int64] = []
            for (type, url) in sends {
                let result = try client.request(ControlRequest(
                    id: 1, type: .send, thread: customer, attachment: OutgoingAttachment(type: type, url: url)))
                ids.append(try #require(try result["outbound"]?.decode(OutboundView.self)).id)
            }
            for id in ids { #expect(try await Self.settled(rig, id).status == .sent) }
            let bodies = Self.attachmentBodies(rig, customer)
            #expect(bodies.map { $0["message"]?["attachment"]?["type"]?.stringValue } == sends.map { $0.0.rawValue })
            #expect(bodies.map { $0["message"]?["attachment"]?["payload"]?["url"]?.stringValue } == sends.map { $0.1 })
            #expect(bodies.allSatisfy { $0["message"]?["text"] == nil && $0["tag"] == nil }, "media only, untagged inside the window")
            let rows = try await rig.outbox(customer).filter { $0.attachment != nil }
            #expect(rows.map(\.attachment) == sends.map { OutgoingAttachment(type: $0.0, url: $0.1) })
            #expect(rows.allSatisfy { $0.text == nil && $0.kind == .manual && $0.author == .operator && $0.remote_message_id != nil })
            // The conversation shows them as sent attachments; the list's preview names the last one.
            let history = try client.request(ControlRequest(id: 2, type: .history, thread: customer))
            let lines = try #require(try history["messages"]?.decode([MessageView].self)).filter { !$0.attachments.isEmpty }
            #expect(lines.map { $0.attachments.first?.url } == sends.map { $0.1 })
            #expect(lines.allSatisfy { $0.delivery == .sent && $0.author == .operator })
            #expect(try await rig.d.store.thread(customer)?.lastText == "[file]")
        }
    }

    @Test("a text and an attachment in one send become two messages, the text first")
    func textThenAttachment() async throws {
        try await ReplyRig.with { rig in
            let customer = "2300000000000002"
            try await Self.customerWrote(rig, customer, ago: 0)
            let client = try Self.socket(rig)
            defer { client.close() }
            let before = rig.fake.instagramMessages().count
            let result = try client.request(ControlRequest(
                id: 1, type: .send, thread: customer, text: "Here is your receipt",
                attachment: OutgoingAttachment(type: .file, url: "https://shop.example/r/123.pdf")))
            let queued = try #require(try result["outbounds"]?.decode([OutboundView].self))
            #expect(queued.count == 2 && queued[1].id == queued[0].id + 1)
            #expect(queued[0].text == "Here is your receipt" && queued[0].attachment == nil)
            #expect(queued[1].attachment?.url == "https://shop.example/r/123.pdf" && queued[1].text == nil)
            for row in queued { #expect(try await Self.settled(rig, row.id).status == .sent) }
            let bodies = Array(rig.fake.instagramMessages()[before...])
            #expect(bodies.count == 2)
            #expect(bodies.first?["message"]?["text"]?.stringValue == "Here is your receipt")
            #expect(bodies.last?["message"]?["attachment"]?["payload"]?["url"]?.stringValue == "https://shop.example/r/123.pdf")
        }
    }

    @Test("Meta's refusals (unsupported format, too large, unreachable URL) fail at once, in plain words, never retried",
          arguments: [
            ("https://cdn.example.com/p/scan.bmp", AttachmentKind.image, "does not take this file as that type"),
            ("https://cdn.example.com/p/huge.png?fake_bytes=9000000", AttachmentKind.image, "larger than Instagram allows"),
            ("https://media.offline.invalid/p/photo.jpg", AttachmentKind.image, "could not fetch the attachment"),
          ])
    func refusals(url: String, type: AttachmentKind, words: String) async throws {
        try await ReplyRig.with { rig in
            let customer = "2300000000000003"
            try await Self.customerWrote(rig, customer, ago: 0)
            let calls = rig.fake.requests().count
            let client = try Self.socket(rig)
            defer { client.close() }
            let result = try client.request(ControlRequest(
                id: 1, type: .send, thread: customer, attachment: OutgoingAttachment(type: type, url: url)))
            let id = try #require(try result["outbound"]?.decode(OutboundView.self)).id
            let row = try await Self.settled(rig, id)
            #expect(row.status == .failed)
            #expect(row.error?.contains(words) == true, "\(row.error ?? "")")
            #expect(row.attempts == 1)
            try await rig.waitIdle()
            #expect(rig.fake.requests().count == calls + 1, "refused once, not retried (the same file fails the same way)")
            #expect(Self.attachmentBodies(rig, customer).isEmpty, "the stand-in took nothing")
            // The conversation line says why, too.
            let line = try #require(try await rig.d.store.message(mid: "out:\(id)"))
            #expect(line.error?.contains(words) == true)
        }
    }

    @Test("bad attachment URLs are refused before anything is queued, with the reason",
          arguments: ["ftp://files.example/a.pdf", "https://cdn.example.com/a b.jpg", "https://cdn.example.com/\u{7}.jpg",
                      "https://" + String(repeating: "a", count: 2100) + ".example/x.jpg", "photo.jpg"])
    func badURLs(url: String) async throws {
        try await ReplyRig.with { rig in
            let customer = "2300000000000004"
            try await Self.customerWrote(rig, customer, ago: 0)
            let rows = try await rig.d.count("SELECT COUNT(*) FROM outbound_messages")
            let client = try Self.socket(rig)
            defer { client.close() }
            do {
                // The request carries the URL as given: the daemon checks it.
                _ = try client.request(ControlRequest(
                    id: 5, type: .send, thread: customer, attachment: OutgoingAttachment(type: .image, url: url)))
                Issue.record("\(url) was accepted")
            } catch ControlClientError.server(let error) {
                #expect(error.code == "bad_request")
                #expect(error.message.contains("attachment URL"), "\(error.message)")
            }
            #expect(try await rig.d.count("SELECT COUNT(*) FROM outbound_messages") == rows)
        }
    }

    @Test("dmdesk send --attach: sent (exit 0), or Meta's refusal on stderr (exit 1); bad usage exits 2",
          .enabled(if: dmdeskExecutable() != nil))
    func scripting() async throws {
        try await ReplyRig.with { rig in
            let customer = "2300000000000005"
            try await Self.customerWrote(rig, customer, ago: 0)
            let socket = rig.d.dataDir + "/dmdesk.sock"
            let dir = rig.d.dataDir
            let (ok, out, _) = try await onThread {
                try runDmdesk(["send", customer, "A photo of it:", "--attach", "https://cdn.example.com/p/hoodie.png", "--socket", socket], cwd: dir)
            }
            #expect(ok == 0)
            #expect(out.contains("sent text") && out.contains("sent image https://cdn.example.com/p/hoodie.png"), "\(out)")
            let bodies = Self.attachmentBodies(rig, customer)
            #expect(bodies.last?["message"]?["attachment"]?["type"]?.stringValue == "image", "type guessed from .png")

            let (voice, _, _) = try await onThread {
                try runDmdesk(["send", customer, "--attach", "https://cdn.example.com/a/hi", "--type", "audio", "--socket", socket], cwd: dir)
            }
            #expect(voice == 0)
            #expect(Self.attachmentBodies(rig, customer).last?["message"]?["attachment"]?["type"]?.stringValue == "audio")

            let (refused, _, err) = try await onThread {
                try runDmdesk(["send", customer, "--attach", "https://media.offline.invalid/p.jpg", "--socket", socket], cwd: dir)
            }
            #expect(refused == 1)
            #expect(err.contains("not sent") && err.contains("Instagram could not fetch the attachment from its URL"), "\(err)")

            let (usage, _, usageErr) = try await onThread {
                try runDmdesk(["send", customer, "--attach", "file:///etc/passwd", "--socket", socket], cwd: dir)
            }
            #expect(usage == 2 && usageErr.contains("http:// or https://"), "\(usageErr)")
            let (nothing, _, nothingErr) = try await onThread { try runDmdesk(["send", customer, "--socket", socket], cwd: dir) }
            #expect(nothing == 2 && nothingErr.contains("--attach"), "\(nothingErr)")
        }
    }

    // MARK: HUMAN_AGENT

    static func tagged(_ body: JSONValue?) -> Bool {
        body?["tag"]?.stringValue == "HUMAN_AGENT" && body?["messaging_type"]?.stringValue == "MESSAGE_TAG"
    }

    @Test("HUMAN_AGENT: an operator's reply after 24 h is tagged, inside 24 h it is not, the bot's never; after 7 days refused before Meta")
    func humanAgent() async throws {
        try await ReplyRig.with(env: ["DMDESK_HUMAN_AGENT_TAG": "true"]) { rig in
            let fresh = "2300000000000010", stale = "2300000000000011", gone = "2300000000000012"
            try await Self.customerWrote(rig, fresh, ago: 1 * Self.hours)
            try await Self.customerWrote(rig, stale, ago: 30 * Self.hours)
            try await Self.customerWrote(rig, gone, ago: 8 * 24 * Self.hours)
            // The bot answered all three: never with the tag, whatever the age of the message.
            for customer in [fresh, stale, gone] {
                let botReply = rig.fake.instagramMessages().first { $0["recipient"]?["id"]?.idString == customer }
                #expect(botReply != nil && !Self.tagged(botReply), "bot reply to \(customer): \(String(describing: botReply))")
            }
            let client = try Self.socket(rig)
            defer { client.close() }
            func lastBody(_ customer: String) -> JSONValue? {
                rig.fake.instagramMessages().last { $0["recipient"]?["id"]?.idString == customer }
            }

            _ = try client.request(ControlRequest(id: 1, type: .send, thread: fresh, text: "inside the window"))
            #expect(try await rig.waitForTexts(fresh, count: 2).last == "inside the window")
            #expect(!Self.tagged(lastBody(fresh)), "inside 24 h: no tag")

            _ = try client.request(ControlRequest(id: 2, type: .send, thread: stale, text: "sorry for the wait"))
            #expect(try await rig.waitForTexts(stale, count: 2).last == "sorry for the wait")
            #expect(Self.tagged(lastBody(stale)), "after 24 h, within 7 days: tagged \(String(describing: lastBody(stale)))")
            _ = try client.request(ControlRequest(
                id: 3, type: .send, thread: stale, attachment: OutgoingAttachment(type: .image, url: "https://cdn.example.com/x.jpg")))
            #expect(await eventually { Self.attachmentBodies(rig, stale).count == 1 })
            #expect(Self.tagged(Self.attachmentBodies(rig, stale).first), "media by an operator is tagged the same way")

            let calls = rig.fake.requests().count
            do {
                _ = try client.request(ControlRequest(id: 4, type: .send, thread: gone, text: "still there?"))
                Issue.record("a reply 8 days after the customer's message was accepted")
            } catch ControlClientError.server(let error) {
                #expect(error.code == "outside_window")
                #expect(error.message.contains("over 7 days ago"), "\(error.message)")
            }
            try await rig.waitIdle()
            #expect(rig.fake.requests().count == calls, "refused before Meta is called")
        }
    }

    @Test("without DMDESK_HUMAN_AGENT_TAG an operator's reply after 24 h is refused, saying how to allow it")
    func humanAgentOff() async throws {
        try await ReplyRig.with { rig in
            let stale = "2300000000000013"
            try await Self.customerWrote(rig, stale, ago: 30 * Self.hours)
            let client = try Self.socket(rig)
            defer { client.close() }
            do {
                _ = try client.request(ControlRequest(id: 1, type: .send, thread: stale, text: "late"))
                Issue.record("accepted outside the window")
            } catch ControlClientError.server(let error) {
                #expect(error.code == "outside_window" && error.message.contains("DMDESK_HUMAN_AGENT_TAG=true"), "\(error.message)")
            }
            // The hello tells consoles the tag is off, so they show one clock.
            #expect(client.hello.humanAgentTag == false)
        }
    }

    // MARK: The ingestion service

    @Test("/api/internal/send-dm takes kind \"custom\" as the ingestion service sends it; the other names still work")
    func customKind() async throws {
        let serviceToken = "svc-token-for-custom-kind-test"
        try await ReplyRig.with(env: ["INTERNAL_SERVICE_TOKEN": serviceToken]) { rig in
            let customer = "2300000000000020"
            try await Self.customerWrote(rig, customer, ago: 0)
            let auth = [("x-service-token", serviceToken), ("Content-Type", "application/json")]
            func post(_ body: JSONValue) async throws -> (Int, JSONValue) {
                let r = try await rig.d.request(.POST, "/api/internal/send-dm", body: body.encoded(), headers: auth)
                return (r.status, (try? JSONValue.parse(Data(r.body.utf8))) ?? .null)
            }
            let (status, answer) = try await post(["ig_id": .string(customer), "message_text": "Your message here", "kind": "custom"])
            #expect(status == 200 && answer["success"]?.boolValue == true, "\(answer)")
            #expect(answer["remote_message_id"]?.stringValue?.hasPrefix("m_fake_") == true)
            #expect(rig.texts(customer).last == "Your message here")
            let id = try #require(answer["outbound_message_id"]?.doubleValue).rounded()
            #expect(try await rig.d.store.outbound(id: Int64(id))?.kind == .manual)
            for kind in ["manual", "auto_reply", "acknowledgement"] {
                let (s, a) = try await post(["ig_id": .string(customer), "message_text": .string("as \(kind)"), "kind": .string(kind)])
                #expect(s == 200, "\(kind): \(a)")
            }
            let (bad, refusal) = try await post(["ig_id": .string(customer), "message_text": "x", "kind": "spam"])
            #expect(bad == 400 && refusal["error"]?.stringValue?.contains("custom") == true, "\(refusal)")
        }
    }
}
