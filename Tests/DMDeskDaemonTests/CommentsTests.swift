import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

/// Comments under posts, end to end: signed `comments` deliveries to the real listener, SQLite on disk, replies
/// through the outbox to the Graph stand-in over real HTTP, requests over the real control socket.
@Suite("Comments: the comments webhook, private and public replies, comment rules")
struct CommentsTests {
    static let commenter = "6230000000000001"
    static let day: EpochMillis = 86_400_000

    /// Posts a signed comment delivery; the stand-in is told of the comment first, as Meta knows its comments.
    @discardableResult
    func comment(
        _ rig: ReplyRig, id: String, text: String, from: String = commenter, username: String? = "ana.commenter",
        at: EpochMillis = nowMillis()
    ) async throws -> DaemonHarness.Reply {
        rig.fake.addComment(id, fromId: from, createdAt: Date(timeIntervalSince1970: Double(at) / 1000))
        let body = WebhookBuilder.comment(id: id, text: text, fromId: from, username: username, at: at)
        return try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body))
    }

    func request(_ rig: ReplyRig, _ request: ControlRequest) async throws -> Result<JSONValue, ControlError> {
        let path = rig.d.dataDir + "/dmdesk.sock"
        return try await onThread { () throws -> Result<JSONValue, ControlError> in
            let client = try ControlClient.connect(path: path)
            defer { client.close() }
            do { return .success(try client.request(request, timeout: 10)) } catch ControlClientError.server(let error) {
                return .failure(error)
            }
        }
    }

    func reply(_ rig: ReplyRig, _ id: String, _ text: String, publicly: Bool = false) async throws -> Result<JSONValue, ControlError> {
        var r = ControlRequest(id: 1, type: .commentReply, text: text)
        r.comment = id
        r.public = publicly
        return try await request(rig, r)
    }

    @Test("the comments field is parsed into a comment; one without a commenter is invalid on its own")
    func parsing() throws {
        let body = WebhookBuilder.comment(id: "1790001", text: "PRICE?", fromId: "42", username: "bo", parentId: "1790000")
        let events = try WebhookParser.parse(body).events
        guard case .comment(let c) = events.first?.kind else { Issue.record("not a comment: \(events)"); return }
        #expect(c == CommentEvent(
            id: "1790001", text: "PRICE?", fromId: "42", fromUsername: "bo", mediaId: "17900000000000001",
            mediaProductType: "FEED", parentId: "1790000"))
        #expect(events.first?.senderId == "42")
        let broken = #"{"object":"instagram","entry":[{"id":"1","time":1732190011,"changes":[{"field":"comments","value":{"id":"c1","text":"hi"}}]}]}"#
        let parsed = try WebhookParser.parse(Data(broken.utf8)).events
        guard case .invalid(let reason) = parsed.first?.kind else { Issue.record("not invalid: \(parsed)"); return }
        #expect(reason.contains("comment.from.id"))
        #expect(parsed.first?.timestamp == 1_732_190_011_000, "the entry's time, in seconds")
    }

    @Test("a comments delivery is stored once: the redelivery is answered 200 and stores and journals nothing")
    func storedOnce() async throws {
        try await ReplyRig.with { rig in
            #expect(try await comment(rig, id: "17950000000000001", text: "Love this 😍").status == 200)
            #expect(try await comment(rig, id: "17950000000000001", text: "Love this 😍").status == 200)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM comments") == 1)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM events WHERE type = 'comment.received'") == 1)
            let stored = try await rig.d.store.comment(id: "17950000000000001")
            #expect(stored?.text == "Love this 😍" && stored?.fromUsername == "ana.commenter" && stored?.answer == CommentAnswer.none)
            #expect(stored?.mediaId == "17900000000000001")
            // A comment is not a DM: no thread, nothing for the bot to answer.
            #expect(try await rig.d.store.thread(Self.commenter) == nil)
            try await rig.waitIdle()
            #expect(rig.fake.commentCalls == FakeGraphAPI.CommentCalls())
            let listed = try await request(rig, ControlRequest(id: 1, type: .comments))
            #expect((try? listed.get())?["comments"]?.arrayValue?.count == 1)
        }
    }

    @Test("a private reply goes out as recipient.comment_id, continues in the commenter's DM thread; a second is refused before Meta is called; a public reply goes under the comment")
    func privateThenPublic() async throws {
        try await ReplyRig.with { rig in
            let id = "17950000000000002"
            #expect(try await comment(rig, id: id, text: "how much?").status == 200)
            let first = try await reply(rig, id, "It's 25 € — sent you the link!")
            #expect((try? first.get()) != nil, "\(first)")
            let ok = await eventually { rig.fake.privateReplies(to: id) == ["It's 25 € — sent you the link!"] }
            #expect(ok, "stand-in saw \(rig.fake.instagramMessages())")
            let sent = rig.fake.requests().last { $0.path.hasSuffix("/me/messages") }?.body
            #expect(sent?["recipient"]?["comment_id"]?.stringValue == id && sent?["recipient"]?["id"] == nil)
            try await rig.waitIdle()
            let answered = try await rig.d.store.comment(id: id)
            #expect(answered?.answer == .private && answered?.privateReplyStatus == .sent)
            // The reply is the first line of a DM thread with the commenter, named after the comment's username.
            let thread = try await rig.d.store.thread(Self.commenter)
            #expect(thread?.username == "ana.commenter")
            let history = try await rig.d.store.history(thread: Self.commenter, before: nil, limit: 10)
            #expect(history.map(\.text) == ["It's 25 € — sent you the link!"] && history.first?.delivery == .sent)

            let second = try await reply(rig, id, "one more thing")
            guard case .failure(let refusal) = second else { Issue.record("a second private reply was accepted"); return }
            #expect(refusal.code == "already_replied")
            #expect(refusal.message.contains("already has a private reply") && refusal.message.contains("DM thread"))
            #expect(rig.fake.commentCalls.privateReplies == 1, "refused before Meta was called")
            #expect(try await rig.d.count("SELECT COUNT(*) FROM outbound_messages WHERE kind = 'private_reply'") == 1)

            let pub = try await reply(rig, id, "Thanks! Check your DMs 💌", publicly: true)
            #expect((try? pub.get()) != nil, "\(pub)")
            let out = await eventually { rig.fake.publicReplies(to: id) == ["Thanks! Check your DMs 💌"] }
            #expect(out)
            let publicCall = rig.fake.requests().last { $0.path.hasSuffix("/\(id)/replies") }
            #expect(publicCall?.method == "POST" && publicCall?.query.contains("message=") == true)
            try await rig.waitIdle()
            let both = try await rig.d.store.comment(id: id)
            #expect(both?.answer == .both && both?.publicReplyId != nil)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM events WHERE type = 'comment.updated'") >= 4)
        }
    }

    @Test("a private reply to a comment older than 7 days is refused before Meta is called; a public reply still goes")
    func tooOld() async throws {
        try await ReplyRig.with { rig in
            let id = "17950000000000003"
            #expect(try await comment(rig, id: id, text: "still available?", at: nowMillis() - 9 * Self.day).status == 200)
            guard case .failure(let refusal) = try await reply(rig, id, "yes!") else {
                Issue.record("a private reply after 9 days was accepted")
                return
            }
            #expect(refusal.code == "outside_window")
            #expect(refusal.message.contains("9 days old") && refusal.message.contains("--public"), "\(refusal.message)")
            #expect(rig.fake.commentCalls.privateReplies == 0)
            #expect(try await rig.d.count("SELECT COUNT(*) FROM outbound_messages") == 0)
            #expect((try? await reply(rig, id, "Yes, still in stock!", publicly: true).get()) != nil)
            #expect(await eventually { rig.fake.publicReplies(to: id) == ["Yes, still in stock!"] })
            guard case .failure(let unknown) = try await reply(rig, "1795nope", "hi") else {
                Issue.record("a reply to an unknown comment was accepted")
                return
            }
            #expect(unknown.code == "not_found" && unknown.message.contains("dmdesk comments"))
        }
    }

    @Test("a comment rule answers a matching comment with one private reply; redelivery does not answer again; DMs keep their own rules")
    func commentRule() async throws {
        try await ReplyRig.with { rig in
            _ = try await rig.d.store.addRule(RuleRecord(
                pattern: "price", matchKind: .word, reply: "Hi! We sent you the price in a DM 💌", priority: 10, action: .reply,
                scope: .comments))
            let id = "17950000000000004"
            #expect(try await comment(rig, id: id, text: "PRICE?").status == 200)
            #expect(await eventually { rig.fake.privateReplies(to: id) == ["Hi! We sent you the price in a DM 💌"] })
            #expect(try await comment(rig, id: id, text: "PRICE?").status == 200)
            try await rig.waitIdle()
            #expect(rig.fake.commentCalls.privateReplies == 1)
            #expect(try await rig.d.store.comment(id: id)?.answer == .private)
            // A comment that matches no rule waits for a person.
            #expect(try await comment(rig, id: "17950000000000005", text: "nice colours").status == 200)
            try await rig.waitIdle()
            #expect(try await rig.d.store.comment(id: "17950000000000005")?.answer == CommentAnswer.none)
            // The account's own comment (a public reply comes back as one) is neither answered nor "unanswered".
            #expect(try await comment(rig, id: "17950000000000008", text: "price list in bio", from: WebhookBuilder.accountId, username: "dmdesk_demo_shop").status == 200)
            try await rig.waitIdle()
            #expect(rig.fake.commentCalls.privateReplies == 1)
            // The rule is scoped to comments: a DM saying "price" does not get its text.
            let customer = "6230000000000099"
            try await rig.say(customer, "price")
            let texts = try await rig.waitForTexts(customer, count: 1)
            #expect(!texts.contains("Hi! We sent you the price in a DM 💌"), "\(texts)")
            let unanswered = try await request(rig, { var r = ControlRequest(id: 2, type: .comments); r.unanswered = true; return r }())
            let ids = (try? unanswered.get())?["comments"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
            #expect(ids == ["17950000000000005"])
        }
    }

    @Test("dmdesk comments and comment-reply: list, reply, exit 1 with Meta's limit in words; rules add --on comments", .enabled(if: dmdeskExecutable() != nil))
    func commands() async throws {
        try await ReplyRig.with { rig in
            let socket = rig.d.dataDir + "/dmdesk.sock"
            let dir = rig.d.dataDir
            let id = "17950000000000006"
            #expect(try await comment(rig, id: id, text: "is this vegan?").status == 200)
            let (listed, out, _) = try await onThread { try runDmdesk(["comments", "--unanswered", "--socket", socket], cwd: dir) }
            #expect(listed == 0 && out.contains(id) && out.contains("@ana.commenter") && out.contains("is this vegan?"), "\(out)")
            let (sent, sentOut, sentErr) = try await onThread { try runDmdesk(["comment-reply", id, "Yes, 100% 🌱", "--socket", socket], cwd: dir) }
            #expect(sent == 0 && sentOut.contains("sent private reply"), "\(sentOut)\(sentErr)")
            #expect(rig.fake.privateReplies(to: id) == ["Yes, 100% 🌱"], "--wait returned after Meta's answer")
            let (again, _, againErr) = try await onThread { try runDmdesk(["comment-reply", id, "and more", "--socket", socket], cwd: dir) }
            #expect(again == 1 && againErr.contains("already has a private reply"), "\(againErr)")
            let (json, jsonOut, _) = try await onThread { try runDmdesk(["comments", "--json", "--socket", socket], cwd: dir) }
            let listedJSON = try JSONValue.parse(Data(jsonOut.utf8))["comments"]?.decode([CommentView].self)
            #expect(json == 0 && listedJSON?.first?.answeredPrivately == true)
            let (none, noneOut, _) = try await onThread { try runDmdesk(["comments", "--unanswered", "--socket", socket], cwd: dir) }
            #expect(none == 0 && noneOut.contains("no unanswered comments"), "\(noneOut)")
            // Meta's own refusal (here: the comment is unknown to it) comes back in words, exit 1.
            let stranger = "17950000000000009"
            let body = WebhookBuilder.comment(id: stranger, text: "hello", fromId: Self.commenter, username: "ana.commenter")
            #expect(try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            let (metaRefused, _, metaErr) = try await onThread { try runDmdesk(["comment-reply", stranger, "hi", "--public", "--socket", socket], cwd: dir) }
            #expect(metaRefused == 1 && metaErr.contains("public reply not sent") && metaErr.contains("does not exist"), "\(metaErr)")

            let env = ["DMDESK_DATA_DIR": dir]
            let (added, _, addErr) = try await onThread {
                try runDmdesk(["rules", "add", "--on", "comments", "vegan", "Yes! All our products are vegan."], cwd: dir, env: env)
            }
            #expect(added == 0, "\(addErr)")
            let rules = try await rig.d.store.rules()
            #expect(rules.contains { $0.scope == .comments && $0.pattern == "vegan" && $0.reply == "Yes! All our products are vegan." })
            let (badAction, _, badErr) = try await onThread {
                try runDmdesk(["rules", "add", "--on", "comments", "x", "--action", "handover"], cwd: dir, env: env)
            }
            #expect(badAction == 2 && badErr.contains("private reply"), "\(badErr)")
        }
    }
}
