import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Replies: keyword rules and `dmdesk rules`")
struct RepliesRulesTests {
    func rule(_ id: Int64, _ pattern: String, _ kind: RuleMatchKind, priority: Int = 100, action: RuleAction = .reply, active: Bool = true) -> RuleRecord {
        var r = RuleRecord(pattern: pattern, matchKind: kind, reply: "reply \(id)", priority: priority, active: active, action: action)
        r.id = id
        return r
    }

    @Test("contains, whole word and regex; case-insensitive; priority then age; inactive and broken rules skipped")
    func matching() {
        let set = RuleSet([
            rule(1, "Hours", .contains, priority: 50),
            rule(2, "hi", .word, priority: 40),
            rule(3, "order\\s*#?\\d+", .regex, priority: 30),
            rule(4, "refund", .contains, priority: 10, active: false),
            rule(5, "([", .regex, priority: 1),
            rule(6, "opening hours", .word, priority: 50),
        ])
        #expect(set.broken.map(\.id) == [5])
        #expect(set.firstMatch("What are your HOURS?")?.record.id == 1)
        #expect(set.firstMatch("Hi!")?.record.id == 2)
        #expect(set.firstMatch("this thing")?.record.id == nil, "'hi' is not a word in 'this'")
        #expect(set.firstMatch("hi, where is ORDER #42?")?.record.id == 3, "lower priority number first")
        #expect(set.firstMatch("refund please") == nil, "inactive")
        #expect(set.firstMatch("opening   hours?")?.record.id == 1, "same priority: the older rule wins")
        #expect(set.firstMatch(["nothing", "héllo hi"])?.record.id == 2, "any message of the batch")
        #expect(set.firstMatch("Ünïcödé ok") == nil)
        #expect(RuleSet([rule(7, "café", .word)]).firstMatch("un CAFÉ, s'il vous plaît") != nil)
    }

    @Test("the store refuses a bad regex and a reply rule without a reply; seed adds the shop set once")
    func storeRules() async throws {
        let store = try SQLiteStore(dataDir: try makeTempDirectory(prefix: "dmdesk-rules"))
        await #expect(throws: RuleError.self) { try await store.addRule(RuleRecord(pattern: "([", matchKind: .regex, reply: "x", priority: 1, action: .reply)) }
        await #expect(throws: RuleError.self) { try await store.addRule(RuleRecord(pattern: "x", matchKind: .contains, reply: nil, priority: 1, action: .reply)) }
        let seeded = try await store.seedRules()
        #expect(seeded.count == 5)
        #expect(try await store.seedRules().isEmpty)
        let set = RuleSet(try await store.rules())
        #expect(set.broken.isEmpty)
        #expect(set.firstMatch("Can I talk to a human?")?.action == .handover)
        #expect(set.firstMatch("where is my order?")?.record.reply?.contains("order") == true)
        #expect(set.firstMatch("how much is shipping to Berlin")?.record.reply?.contains("ship") == true)
        #expect(set.firstMatch("how much does it cost")?.record.reply?.contains("Prices") == true)
        #expect(set.firstMatch("what are your opening hours")?.record.reply?.contains("open") == true)
    }

    /// The built `dmdesk` binary beside the test bundle, if there is one.
    static func binary() -> String? {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let path = url.appendingPathComponent(".build/debug/dmdesk").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    static func run(_ args: [String], dataDir: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary()!)
        p.arguments = args + ["--data-dir", dataDir]
        p.currentDirectoryURL = URL(fileURLWithPath: dataDir)
        p.environment = ["HOME": dataDir, "PATH": "/usr/bin:/bin"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("`dmdesk rules seed|add|list|test|remove` on the data directory", .enabled(if: binary() != nil))
    func cli() throws {
        let dir = try makeTempDirectory(prefix: "dmdesk-rules-cli")
        var (code, out) = try Self.run(["rules", "seed"], dataDir: dir)
        #expect(code == 0 && out.contains("added 5 rules"), "\(out)")
        (code, out) = try Self.run(["rules", "test", "Where is my order?"], dataDir: dir)
        #expect(code == 0 && out.contains("matches rule") && out.contains("bot replies:"), "\(out)")
        (code, out) = try Self.run(["rules", "test", "I want to talk to a human"], dataDir: dir)
        #expect(code == 0 && out.contains("hands over"), "\(out)")
        (code, out) = try Self.run(["rules", "test", "zzz"], dataDir: dir)
        #expect(code == 0 && out.contains("no rule matches; fallback reply: Thanks for your message!"), "\(out)")
        (code, out) = try Self.run(["rules", "add", "gift card", "--reply", "Gift cards are in the shop.", "--priority", "5", "--json"], dataDir: dir)
        #expect(code == 0, "\(out)")
        let added = try JSONValue.parse(Data(out.utf8))
        let id = try #require(added["id"]?.int64Value)
        (code, out) = try Self.run(["rules", "test", "Do you sell GIFT CARDS?", "--json"], dataDir: dir)
        let tested = try JSONValue.parse(Data(out.utf8))
        #expect(tested["rule"]?["id"]?.int64Value == id && tested["reply"]?.stringValue == "Gift cards are in the shop.")
        (code, out) = try Self.run(["rules", "add", "([", "--match", "regex", "--reply", "x"], dataDir: dir)
        #expect(code != 0 && out.contains("regular expression"), "\(out)")
        (code, out) = try Self.run(["rules", "remove", "\(id)"], dataDir: dir)
        #expect(code == 0)
        (code, out) = try Self.run(["rules", "list", "--json"], dataDir: dir)
        #expect(try JSONValue.parse(Data(out.utf8)).arrayValue?.count == 5)
    }
}
