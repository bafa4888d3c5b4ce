import DMDeskCore
import DMDeskDemo
import Foundation
import Testing

/// `S` in the console (tmux): a search across conversations, its results, and Enter opening the conversation.
@Suite("Searching messages from the console (tmux)", .serialized)
struct SearchInTerminalTests {
    typealias Rig = ConsoleInTerminalTests.Rig

    @Test("S finds a message by a word prefix, shows who and the match, Enter opens its conversation; syntax is just words", .enabled(if: ConsoleInTerminalTests.enabled))
    func searchAndJump() async throws {
        let rig = try await Rig.start()
        #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
        try await rig.customerSays("Is the blue hoodie in stock?")
        try await rig.customerSays("And do you ship to Porto?")
        #expect(await rig.terminal.waitAsync("Ana Lima").0)

        try await rig.terminal.pressAsync("S")
        #expect(await rig.terminal.waitAsync("Search messages:").0)
        try await rig.terminal.typeAsync("hood")
        try await rig.terminal.pressAsync("Enter")
        let (found, results) = await rig.terminal.waitAsync("1 message with “hood”")
        #expect(found, "results box:\n\(results)")
        #expect(results.contains("Ana Lima") && results.contains("Is the blue hoodie in stock?"), "\(results)")
        #expect(!results.contains("Porto"), "only the matching message:\n\(results)")

        try await rig.terminal.pressAsync("Enter")
        let (opened, conversation) = await rig.terminal.waitAsync {
            !$0.contains("1 message with") && $0.contains("blue hoodie") && $0.contains("Porto")
        }
        #expect(opened, "the conversation, open at the message:\n\(conversation)")

        try await rig.terminal.pressAsync("S")
        try await rig.terminal.pressAsync("C-u")
        try await rig.terminal.typeAsync("\"NEAR( OR")
        try await rig.terminal.pressAsync("Enter")
        let (none, screen) = await rig.terminal.waitAsync("no messages match")
        #expect(none, "words that are FTS5 syntax are just words:\n\(screen)")
        try await rig.stop()
    }
}
