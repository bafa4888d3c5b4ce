import DMDeskCore
import DMDeskDaemon
import DMDeskGraph
import DMDeskTesting
import Foundation
import Testing

@Suite("The console in a real terminal (tmux) against a daemon, the Graph stand-in and redis-server", .serialized)
struct ConsoleInTerminalTests {
    static var enabled: Bool { TmuxTerminal.available && dmdeskExecutable() != nil }

    struct Rig {
        let redis: RedisServer
        let fake: FakeGraphAPI
        let daemon: DaemonHarness
        let terminal: TmuxTerminal

        static func start(
            env extra: [String: String] = [:], width: Int = 100, height: Int = 30, terminalEnv: [String: String] = [:],
            snoozeClock: SnoozeClock = SnoozeClock()
        ) async throws -> Rig {
            let redis = try RedisServer()
            try redis.start()
            let fake = FakeGraphAPI(expectedToken: "tok", profiles: ["9001": (name: "Ana Lima", username: "ana.lima")])
            try await fake.start()
            var env = [
                "INSTAGRAM_ACCESS_TOKEN": "tok", "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL,
                "DMDESK_REPLY_DELAY_MS": "600000",
            ]
            env.merge(extra) { _, new in new }
            var options = DaemonOptions(graphRetryPolicy: .immediate)
            options.snoozeClock = snoozeClock
            let daemon = try await DaemonHarness(redisURL: redis.url, env: env, options: options)
            let terminal = try await attach(daemon, width: width, height: height, env: terminalEnv)
            return Rig(redis: redis, fake: fake, daemon: daemon, terminal: terminal)
        }

        static func attach(
            _ daemon: DaemonHarness, width: Int = 100, height: Int = 30, env: [String: String] = [:]
        ) async throws -> TmuxTerminal {
            let exe = try #require(dmdeskExecutable())
            let dataDir = daemon.dataDir
            return try await onThread {
                try TmuxTerminal(
                    command: "\(exe) attach --socket \(dataDir)/dmdesk.sock --no-bell", width: width, height: height,
                    environment: ["DMDESK_DATA_DIR": dataDir, "HOME": dataDir].merging(env) { _, new in new })
            }
        }

        func stop() async throws {
            terminal.close()
            try await daemon.stop()
            await fake.stop()
            redis.stop()
        }

        func customerSays(_ text: String, mid: String = UUID().uuidString) async throws {
            let body = WebhookBuilder.textMessage(from: "9001", text: text, mid: mid)
            #expect(try await daemon.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
        }
    }

    @Test("a webhook appears live; take over, reply with an emoji, send: the stand-in gets exactly that text", .enabled(if: enabled))
    func takeOverAndReply() async throws {
        let rig = try await Rig.start()
        #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
        try await rig.customerSays("Hi, do you ship to Porto?")
        let (arrived, screen) = await rig.terminal.waitAsync("do you ship to Porto")
        #expect(arrived, "message shown live:\n\(screen)")
        #expect(await rig.terminal.waitAsync("Ana Lima").0, "profile name fetched from the stand-in replaces the id")

        try await rig.terminal.pressAsync("Enter")
        try await rig.terminal.pressAsync("t")
        #expect(await eventually { (try? await rig.daemon.store.thread("9001")?.mode) == .human }, "t takes the thread over")
        #expect(await rig.terminal.waitAsync("YOU").0)

        try await rig.terminal.pressAsync("r")
        let reply = "Yes! Shipping to Porto takes 3 days 🚚👍🏽"
        try await rig.terminal.typeAsync(reply)
        try await rig.terminal.pressAsync("Enter")
        #expect(await eventually { rig.fake.sentTexts(to: "9001") == [reply] }, "stand-in got exactly the typed text")
        let (sent, after) = await rig.terminal.waitAsync { $0.contains("Shipping to Porto") && $0.contains("✓") }
        #expect(sent, "the pane shows the reply as sent:\n\(after)")
        try await rig.stop()
    }

    @Test("resizing to 60×20 and back keeps a whole, readable screen", .enabled(if: enabled))
    func resize() async throws {
        let rig = try await Rig.start()
        try await rig.customerSays("Resize me please")
        #expect(await rig.terminal.waitAsync("Resize me please").0)
        try await rig.terminal.resizeAsync(width: 60, height: 20)
        let (small, smallScreen) = await rig.terminal.waitAsync { screen in
            let lines = screen.split(separator: "\n", omittingEmptySubsequences: false)
            return screen.contains("Resize me") && lines.allSatisfy { $0.count <= 60 }
        }
        #expect(small, "one-pane layout at 60×20:\n\(smallScreen)")
        try await rig.terminal.resizeAsync(width: 100, height: 30)
        let (big, bigScreen) = await rig.terminal.waitAsync { $0.contains("Resize me please") && $0.contains("token ok") && $0.contains("│") }
        #expect(big, "two panes again at 100×30:\n\(bigScreen)")
        try await rig.stop()
    }

    @Test("TERM=xterm-256color inside tmux: the frame is Unicode box lines, never ACS letters (qqq, xxx)", .enabled(if: enabled))
    func frameLinesWhateverTerm() async throws {
        let rig = try await Rig.start(terminalEnv: ["TERM": "xterm-256color"])
        try await rig.customerSays("Does the frame look right?")
        #expect(await rig.terminal.waitAsync("frame look right").0)
        try await rig.terminal.pressAsync("Enter")
        let (framed, screen) = await rig.terminal.waitAsync { $0.contains("│") && $0.contains("───") }
        #expect(framed, "the list/conversation divider and the composer rule are drawn:\n\(screen)")
        #expect(!screen.contains("qqq") && !screen.contains("xxx"), "no line-drawing characters sent as ACS:\n\(screen)")
        try await rig.stop()
    }

    @Test("business hours: the status bar says the shop is closed (hours only on another day)", .enabled(if: enabled))
    func businessHoursInStatusBar() async throws {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let tomorrow = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][utc.component(.weekday, from: Date()) % 7]
        let rig = try await Rig.start(env: ["DMDESK_BUSINESS_HOURS": "\(tomorrow) 00:00-24:00", "DMDESK_TIMEZONE": "UTC"])
        let (closed, screen) = await rig.terminal.waitAsync("closed · away text")
        #expect(closed, "status bar:\n\(screen)")
        try await rig.stop()
    }

    @Test("escape sequences in a message are drawn visibly and never reach the terminal", .enabled(if: enabled))
    func hostileText() async throws {
        let rig = try await Rig.start()
        #expect(await rig.terminal.waitAsync("token ok").0)
        try await rig.customerSays("before\u{1B}[2Jafter \u{1B}]52;c;aGFja2Vk\u{07} end")
        let (shown, screen) = await rig.terminal.waitAsync("after")
        #expect(shown, "message visible:\n\(screen)")
        try await rig.terminal.pressAsync("Enter")
        let (visible, opened) = await rig.terminal.waitAsync { $0.contains("␛[2J") && $0.contains("␛]52") }
        #expect(visible, "ESC shown as a visible symbol:\n\(opened)")
        #expect(opened.contains("token ok"), "the status bar survived (no clear-screen happened)")
        #expect(opened.contains("before"), "text before the escape is still on screen")
        try await rig.stop()
    }

    @Test("the agent's steps show in the open thread, live and again after re-attaching", .enabled(if: enabled))
    func agentSteps() async throws {
        let model = FakeChatCompletions(answers: [.tools([.init("send_message", ["text": "We ship to Porto in 3 days."])])])
        let base = try await model.start()
        let rig = try await Rig.start(env: [
            "DMDESK_RESPONDER": "agent", "DMDESK_LLM_BASE_URL": base, "DMDESK_LLM_MODEL": "m", "DMDESK_REPLY_DELAY_MS": "0",
        ])
        #expect(await rig.terminal.waitAsync("token ok").0)
        try await rig.customerSays("Do you ship to Porto?")
        #expect(await rig.terminal.waitAsync("ship to Porto").0)
        try await rig.terminal.pressAsync("Enter")
        let (live, screen) = await rig.terminal.waitAsync {
            $0.contains("agent send_message") && $0.contains("We ship to Porto in 3 days.") && $0.contains("agent done")
        }
        #expect(live, "steps shown live:\n\(screen)")
        #expect(rig.fake.sentTexts(to: "9001") == ["We ship to Porto in 3 days."])

        try await rig.terminal.pressAsync("q")
        let again = try await Rig.attach(rig.daemon)
        #expect(await again.waitAsync("token ok").0)
        try await again.pressAsync("Enter")
        let (loaded, reloaded) = await again.waitAsync { $0.contains("agent send_message") && $0.contains("agent ⇄ model") }
        #expect(loaded, "steps loaded with the history:\n\(reloaded)")
        try await Rig(redis: rig.redis, fake: rig.fake, daemon: rig.daemon, terminal: again).stop()
        await model.stop()
    }

    @Test("zero-width characters from a customer are shown visibly; a ZWJ family stays one emoji", .enabled(if: enabled))
    func zeroWidthCharacters() async throws {
        let rig = try await Rig.start()
        #expect(await rig.terminal.waitAsync("token ok").0)
        try await rig.customerSays("look\u{200B}alike stray\u{200D}joiner bom\u{FEFF}here")
        try await rig.customerSays("family 👨‍👩‍👧 end")
        #expect(await rig.terminal.waitAsync("family").0)
        try await rig.terminal.pressAsync("Enter")
        let (shown, screen) = await rig.terminal.waitAsync {
            $0.contains(#"look\u{200b}alike"#) && $0.contains(#"stray\u{200d}joiner"#) && $0.contains(#"bom\u{feff}here"#)
                && $0.contains("family 👨 end")
        }
        // The family is one emoji in two columns, drawn as its first person (curses cannot hold a whole ZWJ
        // sequence in one cell), never taken apart into escapes.
        #expect(shown, "escapes and the family emoji on screen:\n\(screen)")
        #expect(!screen.contains(#"👨\u{200d}"#))
        // Nothing invisible reached the terminal: no joiner is left to glue itself onto a later row.
        #expect(!screen.unicodeScalars.contains { [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF].contains($0.value) }, "\(screen)")
        #expect(screen.contains("token ok"), "the status bar is intact")
        try await rig.stop()
    }

    @Test("scrolled up at a narrow width, \"↓ N more\" has its own row: never overwritten, never overwriting", .enabled(if: enabled))
    func moreBelowHint() async throws {
        let rig = try await Rig.start(width: 40, height: 16)
        #expect(await rig.terminal.waitAsync("No conversations yet").0)
        // 60 long messages wrap to thousands of rows in a 40-column pane.
        let words = (0..<160).map { "word\($0)" }.joined(separator: " ")
        for i in 0..<60 { try await rig.customerSays("m\(i) " + words, mid: "more.\(i)") }
        #expect(await rig.terminal.waitAsync("m59 word0").0, "the newest one is the thread's preview")
        try await rig.terminal.pressAsync("Enter")
        #expect(await rig.terminal.waitAsync("word159").0, "the conversation opens at its end")
        try await rig.terminal.pressAsync("g")  // to the oldest message: everything else is below

        @Sendable func hintRow(_ screen: String) -> (count: Int, row: Int)? {
            let rows = screen.components(separatedBy: "\n")
            for (index, row) in rows.enumerated() where row.contains("↓") {
                let trimmed = row.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix("↓ "), trimmed.hasSuffix(" more") else { return nil }
                guard let n = Int(trimmed.dropFirst(2).dropLast(5)) else { return nil }
                return (n, index)
            }
            return nil
        }
        for (width, height) in [(40, 16), (24, 12)] {
            try await rig.terminal.resizeAsync(width: width, height: height)
            let (ok, screen) = await rig.terminal.waitAsync { screen in
                guard let hint = hintRow(screen) else { return false }
                return hint.count >= 1000 && (width < 40 || screen.contains("m0 word0"))
            }
            #expect(ok, "at \(width) columns the hint row holds the whole hint and nothing else:\n\(screen)")
            if let hint = hintRow(screen) {
                let rows = screen.components(separatedBy: "\n")
                #expect(hint.row > 0 && rows[hint.row - 1].contains("word"), "a message row right above it, intact:\n\(screen)")
            }
        }
        try await rig.stop()
    }
}
