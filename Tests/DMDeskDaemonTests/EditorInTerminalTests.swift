import DMDeskCore
import DMDeskDemo
import DMDeskTesting
import Foundation
import Testing

/// Composing in `$EDITOR` (tmux): curses steps aside, the editor's text comes back as the draft, an empty file cancels.
@Suite("Writing a reply in $EDITOR (tmux)", .serialized)
struct EditorInTerminalTests {
    typealias Rig = ConsoleInTerminalTests.Rig

    @Test("Ctrl-X Ctrl-E runs $EDITOR on the draft, Enter sends what it wrote; a file left empty keeps the draft", .enabled(if: ConsoleInTerminalTests.enabled))
    func editorRoundTrip() async throws {
        let dir = try makeTempDirectory(prefix: "dmdesk-editor")
        let editor = dir + "/editor.sh"
        // A scripted editor: empties the file when the draft says EMPTY, else rewrites it around the draft.
        try """
            #!/bin/sh
            if grep -q EMPTY "$1"; then : > "$1"; else printf 'From the editor: %s\\n' "$(cat "$1")" > "$1"; fi
            """.write(toFile: editor, atomically: true, encoding: .utf8)
        chmod(editor, 0o755)
        let rig = try await Rig.start(terminalEnv: ["EDITOR": editor, "VISUAL": "", "TMPDIR": dir])
        #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
        try await rig.customerSays("Can I change my order?")
        #expect(await rig.terminal.waitAsync("change my order").0)
        try await rig.terminal.pressAsync("Enter")
        try await rig.terminal.pressAsync("r")
        try await rig.terminal.typeAsync("yes of course")
        try await rig.terminal.pressAsync("C-x")
        try await rig.terminal.pressAsync("C-e")
        let (back, screen) = await rig.terminal.waitAsync("From the editor: yes of course")
        #expect(back, "the editor's text is the draft:\n\(screen)")
        try await rig.terminal.pressAsync("Enter")
        #expect(await eventually { rig.fake.sentTexts(to: "9001") == ["From the editor: yes of course"] }, "\(rig.fake.sentTexts(to: "9001"))")

        try await rig.terminal.pressAsync("r")
        try await rig.terminal.typeAsync("EMPTY please")
        try await rig.terminal.pressAsync("C-x")
        let (kept, after) = await rig.terminal.waitAsync("the editor left the file empty")
        #expect(kept && after.contains("EMPTY please"), "the draft is unchanged:\n\(after)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["editor.sh"], "the draft's file is removed")
        try await rig.stop()
    }
}
