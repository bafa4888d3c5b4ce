import DMDeskCore
import DMDeskDemo
import Foundation
import Testing

/// `DMDESK_MARK_SEEN`: opening a thread in the console (tmux) sends `mark_seen` only when it is on.
@Suite("mark_seen when an operator opens a thread (tmux)", .serialized)
struct MarkSeenInTerminalTests {
    typealias Rig = ConsoleInTerminalTests.Rig

    func seen(_ fake: FakeGraphAPI) -> [String] {
        fake.requests().compactMap { request in
            request.body?["sender_action"]?.stringValue == "mark_seen" ? request.body?["recipient"]?["id"]?.idString : nil
        }
    }

    /// The customer writes, the operator opens the thread and answers: what the stand-in saw for that customer.
    func openAndReply(_ rig: Rig) async throws -> [String] {
        #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
        try await rig.customerSays("Is the blue hoodie in stock?")
        #expect(await rig.terminal.waitAsync("blue hoodie").0)
        try await rig.terminal.pressAsync("Enter")
        try await rig.terminal.pressAsync("r")
        try await rig.terminal.typeAsync("Yes, in M and L")
        try await rig.terminal.pressAsync("Enter")
        #expect(await eventually { rig.fake.sentTexts(to: "9001") == ["Yes, in M and L"] }, "the reply went out")
        return rig.fake.timeline(of: "9001")
    }

    @Test("DMDESK_MARK_SEEN=true: opening the thread sends mark_seen, before the operator's reply", .enabled(if: ConsoleInTerminalTests.enabled))
    func markSeenOn() async throws {
        let rig = try await Rig.start(env: ["DMDESK_MARK_SEEN": "true"])
        let timeline = try await openAndReply(rig)
        #expect(timeline == ["mark_seen", "text: Yes, in M and L"], "\(timeline)")
        try await rig.stop()
    }

    @Test("by default opening a thread tells the customer nothing", .enabled(if: ConsoleInTerminalTests.enabled))
    func markSeenOff() async throws {
        let rig = try await Rig.start()
        // The reply waits for a sender action under way to its customer, so a mark_seen from the opening would be
        // recorded before the text.
        let timeline = try await openAndReply(rig)
        #expect(timeline == ["text: Yes, in M and L"], "\(timeline)")
        #expect(seen(rig.fake).isEmpty)
        try await rig.stop()
    }
}
