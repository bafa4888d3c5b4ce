import DMDeskCore
import DMDeskDaemon
import DMDeskTesting
import Foundation
import Testing

@Suite("`dmdesk search` over the control socket")
struct SearchCommandTests {
    @Test("finds a delivered message by its words; JSON hits; no FTS5 syntax reaches the user; no words is bad usage", .enabled(if: dmdeskExecutable() != nil))
    func search() async throws {
        try await withDaemon(env: ["DMDESK_REPLY_DELAY_MS": "600000"]) { d, _ in
            let socket = d.dataDir + "/dmdesk.sock"
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
            func dmdesk(_ args: String...) async throws -> (Int32, String, String) {
                try await onThread { try runDmdesk(["search"] + args + ["--socket", socket], cwd: d.dataDir) }
            }

            var (code, out, err) = try await dmdesk("HOODIE", "stock", "--json")
            #expect(code == 0, "\(err)")
            let hits = try #require(try JSONValue.parse(Data(out.utf8))["hits"]?.decode([SearchHit].self))
            #expect(hits.map(\.thread) == ["1150723386611240"])
            #expect(hits.first?.snippet.contains("blue hoodie") == true, "\(hits)")

            (code, out, _) = try await dmdesk("hood")
            #expect(code == 0 && out.contains("1150723386611240") && out.contains("Is the blue hoodie still in stock?"), "\(out)")
            #expect(!out.contains("\u{1B}["), "no bold escapes into a pipe")

            (code, out, err) = try await dmdesk("\"NEAR(", "AND")
            #expect(code == 0 && out.isEmpty && err.contains("no messages match"), "\(out)\(err)")

            (code, _, err) = try await dmdesk("  ")
            #expect(code == 2 && err.contains("give at least one word"), "\(err)")

            (code, out, _) = try await dmdesk("hoodie", "--thread", "999")
            #expect(code == 0 && out.isEmpty)
        }
    }
}
