import DMDeskCore
import DMDeskDemo
import Foundation
import Testing

/// `/` and `n`/`N` inside a conversation, `o` and its OSC 52 copy, and URLs in customer text as OSC 8 links, in a
/// real terminal (tmux, which keeps what OSC 52 copies in its paste buffer when `set-clipboard` is on).
@Suite("Finding in a conversation and copying its links (tmux)", .serialized)
struct FindAndLinksInTerminalTests {
    typealias Rig = ConsoleInTerminalTests.Rig

    @Test("/ finds in the open thread, n and N move; o lists links, 1 copies with OSC 52; a customer's own OSC 52 is shown, not obeyed",
          .enabled(if: ConsoleInTerminalTests.enabled))
    func findAndCopy() async throws {
        let rig = try await Rig.start(width: 120, height: 36, terminalEnv: ["DMDESK_HYPERLINKS": "1"])
        let raw = rig.daemon.dataDir + "/terminal-output.raw"
        #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
        _ = try rig.terminal.tmux(["pipe-pane", "-O", "-t", rig.terminal.session, "cat >> '\(raw)'"])
        _ = try rig.terminal.tmux(["set-option", "-s", "set-clipboard", "on"])
        let output = { (try? String(contentsOfFile: raw, encoding: .utf8)) ?? "" }

        let url = "https://shop.example/p/blue-hoodie?size=m"
        try await rig.customerSays("Is the blue hoodie in stock? \(url).")
        try await rig.customerSays("Or else the red HOODIE")
        try await rig.customerSays("thanks \u{1B}]52;c;aGFja2Vk\u{07} bye")
        #expect(await rig.terminal.waitAsync("bye").0)
        try await rig.terminal.pressAsync("Enter")
        try await rig.terminal.pressAsync("Tab")
        #expect(await rig.terminal.waitAsync("red HOODIE").0)

        try await rig.terminal.pressAsync("/")
        #expect(await rig.terminal.waitAsync("Find in this conversation:").0)
        try await rig.terminal.typeAsync("hoodie")
        try await rig.terminal.pressAsync("Enter")
        let (first, firstScreen) = await rig.terminal.waitAsync("“hoodie” 1 of 2")
        #expect(first, "the newest match first:\n\(firstScreen)")
        try await rig.terminal.pressAsync("n")
        let (second, secondScreen) = await rig.terminal.waitAsync("“hoodie” 2 of 2")
        #expect(second, "n goes to the older one:\n\(secondScreen)")
        #expect(!secondScreen.contains("Notify manager:"), "while finding, n is not notify")
        try await rig.terminal.pressAsync("N")
        #expect(await rig.terminal.waitAsync("“hoodie” 1 of 2").0, "N back to the newer one")
        try await rig.terminal.pressAsync("Escape")

        try await rig.terminal.pressAsync("o")
        let (listed, list) = await rig.terminal.waitAsync("1 link in this conversation")
        #expect(listed, "the link list:\n\(list)")
        #expect(list.contains(url) && list.contains("customer"), "\(list)")
        try await rig.terminal.pressAsync("1")
        let (copied, after) = await rig.terminal.waitAsync("copied to your clipboard: \(url)")
        #expect(copied, "\(after)")
        #expect(await eventually { rig.terminal.pasteBuffer(via: rig.daemon.dataDir + "/buffer") == url }, "tmux received the OSC 52 copy")
        #expect(output().contains("\u{1B}]52;c;" + Data(url.utf8).base64EncodedString()))

        #expect(output().contains("\u{1B}]8;;\(url)\u{1B}\\"), "the URL in the text is an OSC 8 link, without the full stop after it")
        #expect(!output().contains("\u{1B}]52;c;aGFja2Vk"), "the customer's OSC 52 never reaches the terminal")
        #expect(after.contains("␛]52;c;aGFja2Vk"), "it is shown as text:\n\(after)")
        try await rig.stop()
    }
}
