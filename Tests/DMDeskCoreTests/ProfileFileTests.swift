@testable import DMDeskCore
import Testing

@Suite("Profile files and button payloads")
struct ProfileFileTests {
    @Test("payloads: take over, a rule by id, anything else as it is")
    func payloads() {
        #expect(ButtonPayload("HUMAN_AGENT") == .takeover)
        #expect(ButtonPayload("DMDESK_RULE:12") == .rule(12))
        #expect(ButtonPayload(ButtonPayload.rule(7).payload) == .rule(7))
        for other in ["DMDESK_RULE:", "DMDESK_RULE:0", "DMDESK_RULE:-3", "DMDESK_RULE:3x", "DMDESK_RULE:99999999999999999999", "human_agent"] {
            #expect(ButtonPayload(other) == .other(other), "\(other)")
        }
    }

    @Test("entries keep their header lines; inline tables get none but still parse")
    func lines() throws {
        let text = """
            # comment
            [[question]]
            text = "A?"
            takeover = true

              [[ question ]]   # spaced
            text = "B?"
            payload = "B"
            """
        let buttons = try ProfileFile.parse(.iceBreakers, text: text, file: "f.toml")
        #expect(buttons.map(\.line) == [2, 6])
        #expect(buttons.map(\.target) == [.payload(.takeover), .payload(.other("B"))])
        let inline = try ProfileFile.parse(.persistentMenu, text: "button = [{ title = \"Go\", url = \"https://x.example\" }]", file: "m.toml")
        #expect(inline == [ProfileButton(text: "Go", target: .url("https://x.example"), line: nil, name: "button 1")])
    }

    @Test("an ice breaker cannot be a link; a file with the other field's entries is refused by name")
    func wrongShapes() {
        #expect(throws: ProfileFileError.self) {
            try ProfileFile.parse(.iceBreakers, text: "[[question]]\ntext = \"Shop\"\nurl = \"https://x.example\"\n", file: "f.toml")
        }
        do {
            _ = try ProfileFile.parse(.iceBreakers, text: "[[button]]\ntitle = \"Shop\"\ntakeover = true\n", file: "f.toml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("button") && error.description.contains("[[question]]"), "\(error)")
        }
    }
}
