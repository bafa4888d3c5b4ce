import DMDeskCore
import DMDeskDemo
import DMDeskGraph
import DMDeskStore
import Foundation
import Testing

/// `dmdesk profile …` run as the real binary against the Graph API stand-in over HTTP.
@Suite("dmdesk profile: ice breakers and the persistent menu through the messenger profile API", .serialized)
struct ProfileCommandTests {
    static let token = "profile-test-token"

    /// A data directory with rules, a running stand-in, and `dmdesk` pointed at both.
    struct Rig {
        let fake: FakeGraphAPI
        let dir: String
        let rules: [Int64]

        static func with(_ body: (Rig) async throws -> Void) async throws {
            let fake = FakeGraphAPI(expectedToken: token)
            try await fake.start()
            let dir = try makeTempDirectory(prefix: "dmdesk-profile")
            let store = try SQLiteStore(dataDir: dir)
            let hours = try await store.addRule(RuleRecord(pattern: "opening hours", matchKind: .contains, reply: "We open at 9.", priority: 100, action: .reply))
            let order = try await store.addRule(RuleRecord(pattern: "order", matchKind: .word, reply: "Send us your order number.", priority: 100, action: .reply))
            try await store.close()
            do {
                try await body(Rig(fake: fake, dir: dir, rules: [hours.id!, order.id!]))
            } catch {
                await fake.stop()
                throw error
            }
            await fake.stop()
        }

        func run(_ args: [String]) async throws -> (Int32, String, String) {
            let env = ["INSTAGRAM_ACCESS_TOKEN": token, "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL]
            let dir = self.dir
            return try await onThread { try runDmdesk(["profile"] + args + ["--data-dir", dir], cwd: dir, env: env) }
        }

        func file(_ name: String, _ text: String) throws -> String {
            let path = dir + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        var profileCalls: [FakeGraphAPI.RecordedRequest] { fake.requests().filter { $0.path.hasSuffix("/me/messenger_profile") } }
    }

    @Test("ice-breakers set, show, clear: the request bodies Meta gets, and the answers read back", .enabled(if: dmdeskExecutable() != nil))
    func iceBreakers() async throws {
        try await Rig.with { rig in
            let path = try rig.file("ice.toml", """
                # what a new customer can tap
                [[question]]
                text = "When are you open?"
                rule = \(rig.rules[0])

                [[question]]
                text = "Can I talk to a person?"
                takeover = true
                """)
            let (status, out, err) = try await rig.run(["ice-breakers", "set", path])
            #expect(status == 0, "\(err)")
            #expect(out.contains("\"When are you open?\" → rule \(rig.rules[0])"), "\(out)")
            let post = try #require(rig.profileCalls.last)
            #expect(post.method == "POST")
            #expect(post.query == "platform=instagram")
            #expect(post.authorization == "Bearer \(ProfileCommandTests.token)")
            let expected: JSONValue = [
                "platform": "instagram",
                "ice_breakers": [[
                    "locale": "default",
                    "call_to_actions": [
                        ["question": "When are you open?", "payload": .string("DMDESK_RULE:\(rig.rules[0])")],
                        ["question": "Can I talk to a person?", "payload": "HUMAN_AGENT"],
                    ],
                ]],
            ]
            #expect(post.body == expected)

            let (shown, listing, showErr) = try await rig.run(["show"])
            #expect(shown == 0, "\(showErr)")
            let get = try #require(rig.profileCalls.last)
            #expect(get.method == "GET")
            #expect(get.query.contains("fields=ice_breakers%2Cpersistent_menu") || get.query.contains("fields=ice_breakers,persistent_menu"), "\(get.query)")
            #expect(get.query.contains("platform=instagram"))
            #expect(listing.contains("ice breakers:"), "\(listing)")
            #expect(listing.contains("\"Can I talk to a person?\" → take over"), "\(listing)")
            #expect(listing.contains("persistent menu: none"), "\(listing)")

            let (cleared, _, clearErr) = try await rig.run(["ice-breakers", "clear"])
            #expect(cleared == 0, "\(clearErr)")
            let delete = try #require(rig.profileCalls.last)
            #expect(delete.method == "DELETE")
            #expect(delete.query == "platform=instagram")
            #expect(delete.body == ["fields": ["ice_breakers"]])
            #expect(rig.fake.messengerProfileFields().isEmpty, "the stand-in no longer has them")
            let (_, after, _) = try await rig.run(["show"])
            #expect(after.contains("ice breakers: none"), "\(after)")
        }
    }

    @Test("menu set: postback and web_url buttons in Meta's shape; --json show returns what was set", .enabled(if: dmdeskExecutable() != nil))
    func menu() async throws {
        try await Rig.with { rig in
            let path = try rig.file("menu.toml", """
                [[button]]
                title = "Track my order"
                rule = \(rig.rules[1])

                [[button]]
                title = "Talk to a person"
                takeover = true

                [[button]]
                title = "Shop"
                url = "https://shop.example.com/"
                """)
            let (status, _, err) = try await rig.run(["menu", "set", path])
            #expect(status == 0, "\(err)")
            let menu: JSONValue = [[
                "locale": "default",
                "call_to_actions": [
                    ["type": "postback", "title": "Track my order", "payload": .string("DMDESK_RULE:\(rig.rules[1])")],
                    ["type": "postback", "title": "Talk to a person", "payload": "HUMAN_AGENT"],
                    ["type": "web_url", "title": "Shop", "url": "https://shop.example.com/"],
                ],
            ]]
            #expect(rig.profileCalls.last?.body == ["platform": "instagram", "persistent_menu": menu])
            let (shown, json, _) = try await rig.run(["show", "--json"])
            #expect(shown == 0)
            #expect(try JSONValue.parse(Data(json.utf8)) == ["persistent_menu": menu])

            let (cleared, _, _) = try await rig.run(["menu", "clear"])
            #expect(cleared == 0)
            #expect(rig.profileCalls.last?.body == ["fields": ["persistent_menu"]])
        }
    }

    @Test("a bad file is refused before Meta is called, naming the line and field", .enabled(if: dmdeskExecutable() != nil))
    func validation() async throws {
        try await Rig.with { rig in
            let five = (1...5).map { "[[question]]\ntext = \"Question \($0)?\"\ntakeover = true\n" }.joined(separator: "\n")
            let cases: [(name: String, text: String, field: String, says: String)] = [
                ("five.toml", five, ":17: question 5", "5 questions; Meta allows 4"),
                ("long.toml", "[[question]]\ntext = \"\(String(repeating: "a", count: 81))\"\ntakeover = true\n",
                 ":1: question 1 text", "81 characters; Meta allows 80"),
                ("both.toml", "\n[[question]]\ntext = \"Hi?\"\nrule = \(rig.rules[0])\ntakeover = true\n",
                 ":2: question 1", "give only one of rule, takeover or payload"),
                ("none.toml", "[[question]]\ntext = \"Hi?\"\n", ":1: question 1", "needs one of rule, takeover or payload"),
                ("norule.toml", "[[question]]\ntext = \"Hi?\"\nrule = 999\n", ":1: question 1 rule", "no active rule 999"),
                ("syntax.toml", "[[question]]\ntext = \"unclosed\n", ":2", "Error while parsing"),
                ("typo.toml", "[[question]]\ntxet = \"Hi?\"\ntakeover = true\n", ":1: question 1 txet", "unknown key"),
            ]
            for c in cases {
                let path = try rig.file(c.name, c.text)
                let (status, _, err) = try await rig.run(["ice-breakers", "set", path])
                #expect(status == 2, "\(c.name): \(err)")
                #expect(err.contains(c.name + c.field), "\(c.name): \(err)")
                #expect(err.contains(c.says), "\(c.name): \(err)")
            }
            let longTitle = try rig.file("title.toml", "[[button]]\ntitle = \"\(String(repeating: "b", count: 31))\"\ntakeover = true\n")
            let (status, _, err) = try await rig.run(["menu", "set", longTitle])
            #expect(status == 2 && err.contains("button 1 title") && err.contains("Meta allows 30"), "\(err)")
            let badURL = try rig.file("url.toml", "[[button]]\ntitle = \"Shop\"\nurl = \"javascript:alert(1)\"\n")
            let (urlStatus, _, urlErr) = try await rig.run(["menu", "set", badURL])
            #expect(urlStatus == 2 && urlErr.contains("button 1 url"), "\(urlErr)")
            #expect(rig.profileCalls.isEmpty, "nothing reached Meta: \(rig.profileCalls.map(\.method))")
        }
    }

    @Test("the stand-in refuses what Meta refuses: five questions, no default locale, a bad button type", .enabled(if: dmdeskExecutable() != nil))
    func standInValidation() async throws {
        try await Rig.with { rig in
            let graph = GraphClient(settings: GraphSettings(instagramBaseURL: rig.fake.instagramBaseURL, accessToken: ProfileCommandTests.token))
            let question: JSONValue = ["question": "Hi?", "payload": "X"]
            let refusals: [(MessengerProfileField, JSONValue)] = [
                (.iceBreakers, [["locale": "default", "call_to_actions": .array(Array(repeating: question, count: 5))]]),
                (.iceBreakers, [["locale": "en_GB", "call_to_actions": [question]]]),
                (.persistentMenu, [["locale": "default", "call_to_actions": [["type": "nested", "title": "More"]]]]),
            ]
            for (field, value) in refusals {
                do {
                    try await graph.setMessengerProfile(field, to: value)
                    Issue.record("accepted \(value)")
                } catch let error as GraphError {
                    #expect(error.status == 400 && error.code == 100, "\(error)")
                } catch {
                    Issue.record("\(error)")
                }
            }
            #expect(rig.fake.messengerProfileFields().isEmpty)
            // Accepted as Meta accepts it.
            try await graph.setMessengerProfile(.iceBreakers, to: [["locale": "default", "call_to_actions": [question]]])
            #expect(try await graph.messengerProfile(fields: [.iceBreakers])["ice_breakers"]?.arrayValue?.count == 1)
        }
    }
}
