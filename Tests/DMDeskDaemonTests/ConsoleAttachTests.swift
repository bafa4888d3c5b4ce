import DMDeskCore
import DMDeskDaemon
import DMDeskTesting
import Foundation
import Testing

@Suite("Attaching media and HUMAN_AGENT's clocks in the console (tmux)", .serialized)
struct ConsoleAttachTests {
    typealias Rig = ConsoleInTerminalTests.Rig
    static let day: EpochMillis = 24 * 3_600_000

    /// Customer 9001 writes, the message `ago` old.
    static func customerWrote(_ rig: Rig, ago: EpochMillis, text: String) async throws {
        let body = WebhookBuilder.textMessage(from: "9001", text: text, mid: UUID().uuidString, timestamp: nowMillis() - ago)
        #expect(try await rig.daemon.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
    }

    static func attachments(_ rig: Rig) -> [JSONValue] {
        rig.fake.instagramMessages().filter { $0["message"]?["attachment"] != nil }
    }

    @Test("Ctrl-O attaches by URL (type guessed, Ctrl-O again changes it): text then media, tagged HUMAN_AGENT after 24 h; both clocks shown; a refusal shown in plain words",
          .enabled(if: ConsoleInTerminalTests.enabled))
    func attachInConsole() async throws {
        let rig = try await Rig.start(env: ["DMDESK_HUMAN_AGENT_TAG": "true"], width: 130, height: 32)
        #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
        // Two days minus an hour ago: the 24-hour window has closed, 5 days are left for a person.
        try await Self.customerWrote(rig, ago: 2 * Self.day - 3_600_000, text: "Can you send a photo of the hoodie?")
        #expect(await rig.terminal.waitAsync("photo of the hoodie").0)
        try await rig.terminal.pressAsync("Enter")
        let (clocks, header) = await rig.terminal.waitAsync("window closed · 5 d left as human agent")
        #expect(clocks, "both clocks in the header:\n\(header)")

        try await rig.terminal.pressAsync("r")
        try await rig.terminal.typeAsync("Here it is")
        try await rig.terminal.pressAsync("C-o")
        try await rig.terminal.typeAsync("https://cdn.example.com/p/hoodie.png")
        let (guessed, prompt) = await rig.terminal.waitAsync("Attach image (guessed")
        #expect(guessed, "the prompt names the guessed type:\n\(prompt)")
        try await rig.terminal.pressAsync("C-o")
        #expect(await rig.terminal.waitAsync("Attach video (Ctrl-O changes)").0, "Ctrl-O again: the next type")
        for _ in 0..<3 { try await rig.terminal.pressAsync("C-o") }  // video → audio → file → image
        #expect(await rig.terminal.waitAsync("Attach image (Ctrl-O changes)").0)
        try await rig.terminal.pressAsync("Enter")

        #expect(await eventually(timeout: 30) { Self.attachments(rig).count == 1 }, "the stand-in got the media")
        let bodies = rig.fake.instagramMessages().filter { $0["recipient"]?["id"]?.idString == "9001" }
        #expect(bodies.map { $0["message"]?["text"]?.stringValue } == ["Here it is", nil], "text first, then the media")
        let media = bodies.last?["message"]?["attachment"]
        #expect(media?["type"]?.stringValue == "image")
        #expect(media?["payload"]?["url"]?.stringValue == "https://cdn.example.com/p/hoodie.png")
        #expect(bodies.allSatisfy { $0["tag"]?.stringValue == "HUMAN_AGENT" }, "an operator after 24 hours: tagged")
        let (shown, screen) = await rig.terminal.waitAsync { $0.contains("[photo] https://cdn.example.com/p/hoodie.png ✓") }
        #expect(shown, "the media line, sent:\n\(screen)")

        // A URL Meta cannot fetch: the failure is shown in the conversation, in words.
        try await rig.terminal.pressAsync("C-o")
        try await rig.terminal.typeAsync("https://media.offline.invalid/p/photo.jpg")
        try await rig.terminal.pressAsync("Enter")
        let (refused, after) = await rig.terminal.waitAsync { $0.contains("✗ failed") && $0.contains("could not fetch") }
        #expect(refused, "the refusal in plain words:\n\(after)")

        // A URL that is no URL is refused before anything is sent; the prompt stays for a correction.
        let calls = rig.fake.requests().count
        try await rig.terminal.pressAsync("C-o")
        try await rig.terminal.typeAsync("hoodie.png")
        try await rig.terminal.pressAsync("Enter")
        #expect(await rig.terminal.waitAsync("not a valid URL").0)
        #expect(rig.fake.requests().count == calls)
        try await rig.terminal.pressAsync("C-o")
        #expect(await rig.terminal.waitAsync { $0.contains("URL: hoodie.png") }.0, "Ctrl-O brings the refused URL back")
        try await rig.terminal.pressAsync("Escape")
        try await rig.stop()
    }

    @Test("after 7 days the console refuses the reply itself and says why; the draft stays", .enabled(if: ConsoleInTerminalTests.enabled))
    func refusedAfterSevenDays() async throws {
        let rig = try await Rig.start(env: ["DMDESK_HUMAN_AGENT_TAG": "true"], width: 130, height: 32)
        #expect(await rig.terminal.waitAsync("token ok").0)
        try await Self.customerWrote(rig, ago: 8 * Self.day, text: "Hello from last week")
        #expect(await rig.terminal.waitAsync("Hello from last week").0)
        #expect(await rig.terminal.waitAsync("Ana Lima").0, "the profile lookup is done before counting calls")
        try await rig.terminal.pressAsync("Enter")
        #expect(await rig.terminal.waitAsync("7 days passed").0, "the header says no reply is possible")
        let calls = rig.fake.requests().count
        try await rig.terminal.pressAsync("r")
        try await rig.terminal.typeAsync("Are you still there?")
        try await rig.terminal.pressAsync("Enter")
        let (said, screen) = await rig.terminal.waitAsync("not sent: the customer last wrote over 7 days ago")
        #expect(said, "refused before sending, saying why:\n\(screen)")
        #expect(screen.contains("Are you still there?"), "the draft is kept")
        #expect(rig.fake.requests().count == calls, "Meta was never called")
        #expect(try await rig.daemon.count("SELECT COUNT(*) FROM outbound_messages WHERE author = 'operator'") == 0)
        try await rig.stop()
    }
}
