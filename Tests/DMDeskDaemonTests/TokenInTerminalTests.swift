import DMDeskCore
import DMDeskDemo
import DMDeskTesting
import Foundation
import Testing

/// Meta refusing the token is a banner on every attached console (tmux), gone once the token works again.
@Suite("The invalid-token banner (tmux)", .serialized)
struct TokenInTerminalTests {
    typealias Rig = ConsoleInTerminalTests.Rig

    @Test("190 on a reply: a banner with the fix on this console and on one attached later; a refresh removes it", .enabled(if: ConsoleInTerminalTests.enabled))
    func bannerOnEveryConsole() async throws {
        let rig = try await Rig.start(env: ["DMDESK_REPLY_DELAY_MS": "0"])
        #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
        rig.fake.revokeToken("tok")
        try await rig.customerSays("Is the blue hoodie in stock?")
        let (shown, screen) = await rig.terminal.waitAsync {
            $0.contains("Instagram refused the access token") && $0.contains("9001") && $0.contains("token invalid")
        }
        #expect(shown, "the banner, the inbox under it and the status bar:\n\(screen)")
        #expect(screen.contains("Run dmdesk token refresh"), "the fix, within 100 columns:\n\(screen)")
        let banner = screen.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("refused the access token") }
        #expect(banner == 1, "the line under the title bar:\n\(screen)")

        let second = try await Rig.attach(rig.daemon)
        let (late, lateScreen) = await second.waitAsync("Instagram refused the access token")
        #expect(late, "a console attached afterwards shows it too:\n\(lateScreen)")

        rig.fake.restoreToken("tok")
        let socket = rig.daemon.dataDir + "/dmdesk.sock"
        _ = try await onThread {
            let client = try ControlClient.connect(path: socket)
            defer { client.close() }
            return try client.request(ControlRequest(id: 1, type: .tokenRefresh), timeout: 30)
        }
        for terminal in [rig.terminal, second] {
            let (gone, after) = await terminal.waitAsync { !$0.contains("refused the access token") && $0.contains("token ok") }
            #expect(gone, "banner gone after the refresh:\n\(after)")
        }
        second.close()
        try await rig.stop()
    }
}
