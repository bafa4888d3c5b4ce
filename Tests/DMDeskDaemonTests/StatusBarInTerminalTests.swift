import DMDeskCore
import DMDeskDemo
import Foundation
import Testing

/// The status bar's webhook age (tmux): a console attached before the first webhook says so at once when it comes.
@Suite("The status bar's webhook age (tmux)", .serialized)
struct StatusBarInTerminalTests {
    typealias Rig = ConsoleInTerminalTests.Rig

    @Test("\"no webhook yet\" turns into \"webhook now\" when the first one arrives, without waiting for the minute's status poll", .enabled(if: ConsoleInTerminalTests.enabled))
    func firstWebhookShowsAtOnce() async throws {
        let rig = try await Rig.start()
        let (before, screen) = await rig.terminal.waitAsync { $0.contains("token ok") && $0.contains("no webhook yet") }
        #expect(before, "\(screen)")
        try await rig.customerSays("hello there")
        // The console asks for status once a minute; only the daemon's event can bring this within a few seconds.
        let (after, later) = await rig.terminal.waitAsync(timeout: 8) { $0.contains("webhook now") }
        #expect(after, "\(later)")
        try await rig.stop()
    }
}
