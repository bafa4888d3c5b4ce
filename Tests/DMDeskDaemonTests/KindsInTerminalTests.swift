import DMDeskCore
import DMDeskDemo
import DMDeskTesting
import Foundation
import Testing

@Suite("Every received kind, signed through real HTTP, in a real terminal (tmux); unsend erased live", .serialized)
struct KindsInTerminalTests {
    static var enabled: Bool { ConsoleInTerminalTests.enabled }
    let customer = "9001"
    let cdn = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="

    func post(_ rig: ConsoleInTerminalTests.Rig, _ body: Data) async throws {
        #expect(try await rig.daemon.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
    }

    @Test("a labelled line for each kind, OSC 8 only for a valid link, story expiry, quotes; unsend gone everywhere", .enabled(if: enabled))
    func kindsAndUnsend() async throws {
        let rig = try await ConsoleInTerminalTests.Rig.start(width: 140, height: 60, terminalEnv: ["DMDESK_HYPERLINKS": "1"])
        let raw = rig.daemon.dataDir + "/terminal-output.raw"
        #expect(await rig.terminal.waitAsync("token ok").0)
        // Everything the console writes to the terminal, escape sequences included.
        _ = try rig.terminal.tmux(["pipe-pane", "-O", "-t", rig.terminal.session, "cat >> '\(raw)'"])

        let now = nowMillis()
        let hostile = "https://evil.example/\u{1B}]8;;http://phish.example\u{1B}\\x"
        try await post(rig, WebhookBuilder.textMessage(from: customer, text: "the original question", mid: "k_first", timestamp: now - 20_000))
        try await post(rig, WebhookBuilder.storyReply(
            from: customer, text: "old story reply", mid: "k_oldstory", storyURL: cdn + "old-story", timestamp: now - 25 * 3_600_000))
        let attachments: [(String, JSONValue)] = [
            ("k_image", WebhookBuilder.attachment("image", url: cdn + "photo1")),
            ("k_video", WebhookBuilder.attachment("video", url: cdn + "video1")),
            ("k_audio", WebhookBuilder.attachment("audio", url: cdn + "voice1")),
            ("k_file", WebhookBuilder.attachment("file", url: cdn + "file1")),
            ("k_reel", WebhookBuilder.attachment("ig_reel", url: cdn + "reel1", title: "reel caption here")),
            ("k_share", WebhookBuilder.attachment("share", url: cdn + "share1")),
            ("k_mention", WebhookBuilder.attachment("story_mention", url: cdn + "mention1")),
            ("k_hostile", WebhookBuilder.attachment("file", url: hostile)),
        ]
        for (index, (mid, attachment)) in attachments.enumerated() {
            try await post(rig, WebhookBuilder.attachments(from: customer, mid: mid, [attachment], timestamp: now - 19_000 + Int64(index)))
        }
        try await post(rig, WebhookBuilder.message(from: customer, [
            "mid": "k_post", "attachments": [WebhookBuilder.attachment("share", url: cdn + "post1"),
                                             WebhookBuilder.attachment("ig_post", url: cdn + "post1", title: "post caption")],
        ], timestamp: now - 18_000))
        try await post(rig, WebhookBuilder.storyReply(from: customer, text: "fresh story reply", mid: "k_story", storyURL: cdn + "story1",
                                                      timestamp: now - 17_000))
        try await post(rig, WebhookBuilder.message(from: customer, ["mid": "k_reply", "text": "yes exactly", "reply_to": ["mid": "k_first"]],
                                                   timestamp: now - 16_000))
        try await post(rig, WebhookBuilder.message(from: customer, ["mid": "k_quick", "text": "Order status", "quick_reply": ["payload": "ORDER_STATUS"]],
                                                   timestamp: now - 15_000))
        try await post(rig, WebhookBuilder.message(from: customer, ["mid": "k_unsupported", "is_unsupported": true], timestamp: now - 14_000))
        let secret = "my door code is 48151623"
        try await post(rig, WebhookBuilder.textMessage(from: customer, text: secret, mid: "k_secret", timestamp: now - 13_000))

        #expect(await rig.terminal.waitAsync("48151623").0, "the thread list shows the latest message")
        try await rig.terminal.pressAsync("Enter")
        let labels = [
            "[photo] " + cdn + "photo1", "[video] ", "[voice message] ", "[file] " + cdn + "file1", "[reel] ", "reel caption here",
            "[shared post] ", "[story mention] mentioned you in their story", "[post] ", "post caption",
            "↪ replied to your story https://lookaside", "replied to your story · story expired", "↩ “the original question”",
            "[quick reply: ORDER_STATUS]", "[unsupported message", "https://evil.example/␛]8;;http://phish.example␛\\x", secret,
        ]
        let (all, screen) = await rig.terminal.waitAsync { s in labels.allSatisfy { s.contains($0) } }
        #expect(all, "missing: \(labels.filter { !screen.contains($0) })\n\(screen)")

        let output = { (try? String(contentsOfFile: raw, encoding: .utf8)) ?? "" }
        #expect(await eventually { output().contains("\u{1B}]8;;\(cdn)photo1\u{1B}\\") }, "an OSC 8 link for the photo")
        #expect(output().contains("\u{1B}]8;;\(cdn)story1\u{1B}\\"), "and for the live story")
        #expect(!output().contains("\u{1B}]8;;\(cdn)old-story"), "an expired story is not linked")
        #expect(!output().contains("\u{1B}]8;;https://evil") && !output().contains("\u{1B}]8;;http://phish"), "no link for a hostile URL")
        #expect(try rig.redis.list("chat:\(customer)").contains { $0.contains("48151623") })

        // The customer unsends, while this console is open on the thread.
        try await post(rig, WebhookBuilder.unsend(from: customer, mid: "k_secret"))
        let (gone, after) = await rig.terminal.waitAsync { $0.contains("message unsent") && !$0.contains("48151623") }
        #expect(gone, "live in the open console:\n\(after)")
        #expect(try rig.redis.list("chat:\(customer)").allSatisfy { !$0.contains("48151623") }, "out of the Redis context")
        #expect(try await rig.daemon.count("SELECT COUNT(*) FROM messages WHERE instr(COALESCE(text, ''), '48151623') > 0") == 0)
        #expect(try await rig.daemon.count("SELECT COUNT(*) FROM events WHERE instr(payload, '48151623') > 0") == 0)
        #expect(try await rig.daemon.count("SELECT COUNT(*) FROM threads WHERE instr(COALESCE(last_text, ''), '48151623') > 0") == 0)
        // Redelivered: nothing changes.
        let seq = try await rig.daemon.store.lastSeq()
        try await post(rig, WebhookBuilder.unsend(from: customer, mid: "k_secret"))
        #expect(try await rig.daemon.store.lastSeq() == seq)

        let socket = rig.daemon.dataDir + "/dmdesk.sock"
        let (code, json, _) = try await onThread {
            try runDmdesk(["history", customer, "--json", "--socket", socket], cwd: rig.daemon.dataDir)
        }
        #expect(code == 0 && !json.contains("48151623"), "history --json")
        let lines = try JSONValue.parse(Data(json.utf8))
        let messages = try (lines["messages"] ?? lines).decode([MessageView].self)
        #expect(messages.first { $0.id == "k_secret" }?.deleted == true)
        #expect(messages.first { $0.id == "k_image" }?.kind == .image)
        #expect(messages.first { $0.id == "k_reply" }?.replyToText == "the original question")
        try await rig.stop()
    }
}
