import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Store: message kinds, replies and unsend")
struct KindsAndUnsendTests {
    let customer = "3100000000000077"
    let secret = "my card is 4111 1111 1111 1111"
    let edited = "my card is 5500 0000 0000 0004"
    let photoURL = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=secret-photo-77"

    func message(_ fields: JSONValue, at: EpochMillis = nowMillis()) throws -> [WebhookEvent] {
        try Events.parse([[
            "sender": ["id": .string(customer)], "recipient": ["id": .string(Events.account)], "timestamp": .number(Double(at)),
            "message": fields,
        ]])
    }

    func unsend(_ mid: String) throws -> [WebhookEvent] { try message(["mid": .string(mid), "is_deleted": true]) }

    @Test("every kind is stored with its kind, link, quote and payload, in history and in the journal", arguments: StoreEngine.all)
    func kinds(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let start = nowMillis() - 100_000
            var at = start
            func next() -> EpochMillis { at += 1000; return at }
            let cases: [(mid: String, fields: JSONValue, kind: MessageKind)] = [
                ("k_text", ["text": "plain words"], .text),
                ("k_image", ["attachments": [WebhookBuilder.attachment("image", url: "https://x/i.jpg")]], .image),
                ("k_video", ["attachments": [WebhookBuilder.attachment("video", url: "https://x/v.mp4")]], .video),
                ("k_audio", ["attachments": [WebhookBuilder.attachment("audio", url: "https://x/a.mp4")]], .audio),
                ("k_file", ["attachments": [WebhookBuilder.attachment("file", url: "https://x/f.pdf")]], .file),
                ("k_reel", ["attachments": [WebhookBuilder.attachment("ig_reel", url: "https://x/r", title: "a reel")]], .igReel),
                ("k_post", ["attachments": [WebhookBuilder.attachment("share", url: "https://x/p"),
                                            WebhookBuilder.attachment("ig_post", url: "https://x/p", title: "caption")]], .igPost),
                ("k_share", ["attachments": [WebhookBuilder.attachment("share", url: "https://x/s")]], .share),
                ("k_mention", ["attachments": [WebhookBuilder.attachment("story_mention", url: "https://x/story")]], .storyMention),
                ("k_story", ["text": "love it", "reply_to": ["story": ["url": "https://x/st", "id": "1801"]]], .storyReply),
                ("k_reply", ["text": "yes that one", "reply_to": ["mid": "k_text"]], .text),
                ("k_quick", ["text": "Order status", "quick_reply": ["payload": "ORDER_STATUS"]], .quickReply),
                ("k_unsupported", ["is_unsupported": true], .unsupported),
                ("k_new", ["attachments": [WebhookBuilder.attachment("hologram", url: "https://x/h")]], .other),
            ]
            for c in cases {
                guard case .object(var fields) = c.fields else { continue }
                fields["mid"] = .string(c.mid)
                let outcome = try await store.ingest(try message(.object(fields), at: next()))
                #expect(outcome.storedMessages == 1, "\(c.mid)")
                let received = try #require(outcome.events.first { $0.type == EventType.messageReceived })
                #expect(received.data["kind"]?.stringValue == c.kind.rawValue, "the journal carries the kind of \(c.mid)")
            }
            let history = try await store.history(thread: customer)
            let byMid = Dictionary(uniqueKeysWithValues: history.map { ($0.id, $0) })
            for c in cases { #expect(byMid[c.mid]?.kind == c.kind, "\(c.mid)") }
            #expect(byMid["k_reel"]?.attachments == [Attachment(type: "ig_reel", url: "https://x/r", title: "a reel")])
            #expect(byMid["k_story"]?.replyToStory == "https://x/st")
            #expect(byMid["k_reply"]?.replyToMid == "k_text" && byMid["k_reply"]?.replyToText == "plain words", "the quoted line")
            #expect(byMid["k_quick"]?.payload == "ORDER_STATUS")
            let live = try await store.events(ofType: EventType.messageReceived).first { $0.data["id"]?.stringValue == "k_reply" }
            #expect(live?.data["replyToText"]?.stringValue == "plain words", "the live event quotes it too")
            #expect(try await store.thread(customer)?.lastText == "[hologram]", "a preview names what it is")
        }
    }

    @Test("an unsend erases text, edits, links and quotes from the row, the journal, the agent's steps and the preview", arguments: StoreEngine.all)
    func unsendErases(engine: StoreEngine) async throws {
        let place = try await engine.makePlace()
        let store = try await engine.open(place)
        let base = nowMillis() - 60_000
        _ = try await store.ingest(try message(["mid": "u_secret", "text": .string(secret)], at: base))
        _ = try await store.ingest(try Events.parse([[
            "sender": ["id": .string(customer)], "recipient": ["id": .string(Events.account)], "timestamp": .number(Double(base + 1)),
            "message_edit": ["mid": "u_secret", "text": .string(edited), "num_edit": 1],
        ]]))
        _ = try await store.ingest(try message(
            ["mid": "u_photo", "attachments": [WebhookBuilder.attachment("image", url: photoURL)]], at: base + 2))
        _ = try await store.ingest(try message(["mid": "u_reply", "text": "did you get it?", "reply_to": ["mid": "u_secret"]], at: base + 3))
        _ = try await store.recordAgentStep(
            AgentStepDraft(kind: .tool, tool: "send_message", arguments: "{\"quote\":\"\(edited)\"}", result: "ok"),
            thread: customer, batch: "b1", now: base + 4)
        _ = try await store.ingest(try message(["mid": "u_last", "text": .string(secret)], at: base + 5))

        let first = try await store.ingest(try unsend("u_secret"))
        #expect(Set(first.contextErasures.map(\.text)) == [secret, edited], "both versions leave Redis")
        #expect(first.events.map(\.type) == [EventType.messageUpdated, EventType.threadUpdated])
        _ = try await store.ingest(try unsend("u_photo"))
        let last = try await store.ingest(try unsend("u_last"))
        #expect(last.contextErasures == [ContextTurn(customer: customer, role: .user, text: secret)])

        let history = try await store.history(thread: customer)
        for mid in ["u_secret", "u_photo", "u_last"] {
            let view = try #require(history.first { $0.id == mid })
            #expect(view.deleted && view.text == nil && view.attachments.isEmpty && !view.edited, "\(mid) erased")
        }
        let reply = try #require(history.first { $0.id == "u_reply" })
        #expect(reply.text == "did you get it?" && reply.replyToText == nil && reply.replyToUnsent == true)
        #expect(try await store.thread(customer)?.lastText == unsentMessageLabel)

        let journal = try await store.wholeJournal()
        for event in journal {
            let payload = event.data.compactString
            for s in [secret, edited, photoURL] { #expect(!payload.contains(s), "\(event.type) #\(event.seq) still holds \(s)") }
        }
        let replyReceived = try #require(journal.first { $0.type == EventType.messageReceived && $0.data["id"]?.stringValue == "u_reply" })
        #expect(replyReceived.data["text"]?.stringValue == "did you get it?", "the reply's own text stays")
        #expect(replyReceived.data["replyToUnsent"]?.boolValue == true)
        let steps = try await store.agentSteps(thread: customer, before: nil, limit: 10)
        #expect(steps.allSatisfy { !($0.arguments ?? "").contains(edited) }, "\(steps.map(\.arguments))")

        // Nothing of it left in the file either (secure_delete), in any table or free page.
        try await store.close()
        if engine.name == StoreEngine.sqlite.name {
            let files = ["dmdesk.sqlite", "dmdesk.sqlite-wal"].map { place + "/" + $0 }
            for file in files where FileManager.default.fileExists(atPath: file) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
                for s in [secret, edited, photoURL] {
                    #expect(bytes.range(of: Data(s.utf8)) == nil, "\(file) still holds \(s)")
                }
            }
        }
    }

    @Test("an unsend of an unknown mid is harmless; a redelivered unsend changes nothing", arguments: StoreEngine.all)
    func unsendIdempotent(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let unknown = try await store.ingest(try unsend("never_seen"))
            #expect(unknown.storedMessages == 0 && unknown.contextErasures.isEmpty)
            #expect(unknown.events.map(\.type) == [EventType.unknown], "kept as an orphan event")
            #expect(try await store.thread(customer) == nil, "no thread made up for it")

            _ = try await store.ingest(try Events.text(customer, "oops wrong chat", mid: "u_once"))
            let first = try await store.ingest(try unsend("u_once"))
            #expect(first.events.count == 2)
            let seq = try await store.lastSeq()
            let again = try await store.ingest(try unsend("u_once"))
            #expect(again.duplicates == 1 && again.events.isEmpty && again.contextErasures.isEmpty)
            #expect(try await store.lastSeq() == seq, "nothing journaled twice")
            #expect(try await store.history(thread: customer).map(\.deleted) == [true])
        }
    }
}
