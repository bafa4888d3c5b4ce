import DMDeskCore
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("dmdesk demo, headless, through the real binary", .serialized)
struct DemoCommandTests {
    static var enabled: Bool { dmdeskExecutable() != nil }

    /// Runs the whole demo script quickly (without the crowd, unless `extra` asks) and returns its data directory.
    func runDemo(_ extra: [String]) async throws -> String {
        let dir = try makeTempDirectory(prefix: "dmdesk-demo-test")
        let (code, out, err) = try await onThread {
            try runDmdesk(["demo", "--headless", "--speed", "50", "--data-dir", dir] + (extra.contains("--duration") ? [] : ["--no-crowd"]) + extra, cwd: dir)
        }
        #expect(code == 0, "stdout: \(out)\nstderr: \(err)")
        #expect(out.contains("socket \(dir)/dmdesk.sock"), "--data-dir is honoured: \(out)")
        return dir
    }

    func count(_ store: SQLiteStore, _ sql: String) async throws -> Int {
        try await store.pool.read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
    }

    func sentTexts(_ store: SQLiteStore, thread: String) async throws -> [String] {
        try await store.pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT text FROM outbound_messages WHERE kind = 'auto_reply' AND status = 'sent' AND thread_id = ?",
                arguments: [thread])
        }
    }

    @Test("the simulated customers are stored and answered by the rules", .enabled(if: enabled))
    func rules() async throws {
        let dir = try await runDemo([])
        let store = try SQLiteStore(dataDir: dir)
        let counts = try await store.counts()
        #expect(counts.threads == DemoScript.customers.count)
        let inbound = try await count(store, "SELECT COUNT(*) FROM messages WHERE direction = 'in'")
        let unsends = DemoScript.steps.filter { if case .unsend = $0.action { true } else { false } }.count
        let comments = DemoScript.steps.filter { if case .comment = $0.action { true } else { false } }.count
        #expect(inbound == DemoScript.steps.count - unsends - comments, "an unsend adds no message, nor does a comment")
        #expect(try await count(store, "SELECT COUNT(*) FROM comments") == comments)
        #expect(
            try await count(store, "SELECT COUNT(*) FROM outbound_messages WHERE kind = 'private_reply' AND status = 'sent'") == comments,
            "the seeded comment rule answered the comment with a private reply")
        #expect(try await count(store, "SELECT COUNT(*) FROM messages WHERE deleted = 1 AND text IS NULL") == unsends)
        #expect(try await count(store, "SELECT COUNT(*) FROM messages WHERE kind = 'audio'") == 1, "the voice note")
        #expect(try await count(store, "SELECT COUNT(*) FROM events WHERE instr(payload, '4111 1111') > 0") == 0,
                "the unsent card number is gone from the journal")
        let replies = try await count(store, "SELECT COUNT(*) FROM outbound_messages WHERE kind = 'auto_reply' AND status = 'sent'")
        #expect(replies >= DemoScript.customers.count, "every customer got at least one answer")
        #expect(try await store.agentSteps(thread: DemoScript.maya.id).isEmpty)
        try await store.close()
    }

    @Test("--agent: the stand-in model answers through tools, reacts, and hands Jonas over", .enabled(if: enabled))
    func agent() async throws {
        let dir = try await runDemo(["--agent"])
        let store = try SQLiteStore(dataDir: dir)
        let jonas = try #require(try await store.thread(DemoScript.jonas.id))
        #expect(jonas.mode == .human, "\"Can I talk to a human please?\" → handover")
        let priya = try await store.agentSteps(thread: DemoScript.priya.id)
        #expect(priya.contains { $0.tool == "react" && $0.ok }, "\(priya.map(\.summary))")
        let sent = try await sentTexts(store, thread: DemoScript.aiko.id)
        #expect(sent.contains { $0.contains("Japan") }, "\(sent)")
        try await store.close()
    }

    @Test("the crowd: after the script new customers keep writing, with names, and are answered", .enabled(if: enabled))
    func crowd() async throws {
        let dir = try await runDemo(["--duration", "6"])
        let store = try SQLiteStore(dataDir: dir)
        let scripted = Set(DemoScript.customers.map(\.id))
        let threads = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT t.id, p.name FROM threads t JOIN profiles p ON p.id = t.id").map { (id: $0["id"] as String, name: $0["name"] as String?) }
        }
        let newcomers = threads.filter { !scripted.contains($0.id) }
        #expect(newcomers.count >= 5, "new conversations kept coming after the script: \(threads.count) threads")
        var crowd = DemoCrowd()
        var expected: [String: String] = [:]
        while expected.count < newcomers.count {
            if let customer = crowd.next().newCustomer { expected[customer.id] = customer.name }
        }
        for thread in newcomers {
            #expect(thread.name == expected[thread.id], "the Graph stand-in answered the newcomer's profile: \(thread)")
        }
        let openings = try await store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT text FROM messages WHERE direction = 'in' AND text IS NOT NULL AND thread_id NOT IN (\(scripted.map { "'\($0)'" }.joined(separator: ",")))")
        }
        #expect(openings.count >= 4, "varied: \(openings)")
        let answered = try await count(store, "SELECT COUNT(DISTINCT thread_id) FROM outbound_messages WHERE kind = 'auto_reply' AND status = 'sent'")
        #expect(answered >= DemoScript.customers.count + newcomers.count - 2, "the bot answers newcomers too (the last may still be waiting)")
        try await store.close()
    }

    @Test("the crowd is bounded: past its limit only returning customers write")
    func crowdIsBounded() {
        var crowd = DemoCrowd(seed: 7)
        var ids = Set<String>()
        for _ in 0..<(DemoCrowd.maxNewCustomers * 4) {
            let (step, newCustomer) = crowd.next()
            if let newCustomer { #expect(newCustomer.id == step.customer.id) }
            ids.insert(step.customer.id)
            #expect(step.after > 0)
        }
        #expect(ids.count == DemoCrowd.maxNewCustomers)
        #expect(crowd.customers.count == DemoCrowd.maxNewCustomers)
        #expect(!ids.contains { Set(DemoScript.customers.map(\.id)).contains($0) }, "never a scripted customer's id")
    }
}
