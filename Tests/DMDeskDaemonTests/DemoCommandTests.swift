import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

@Suite("dmdesk demo, headless, through the real binary", .serialized)
struct DemoCommandTests {
    static var enabled: Bool { dmdeskExecutable() != nil }

    /// Runs the whole demo script quickly and returns its data directory.
    func runDemo(_ extra: [String]) async throws -> String {
        let dir = try makeTempDirectory(prefix: "dmdesk-demo-test")
        let (code, out, err) = try await onThread {
            try runDmdesk(["demo", "--headless", "--speed", "50", "--data-dir", dir] + extra, cwd: dir)
        }
        #expect(code == 0, "stdout: \(out)\nstderr: \(err)")
        #expect(out.contains("socket \(dir)/dmdesk.sock"), "--data-dir is honoured: \(out)")
        return dir
    }

    // Blocking reads (GRDB's async `read` is not used in tests; see Harness.swift).
    func count(_ store: Store, _ sql: String) throws -> Int {
        try store.pool.read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
    }

    func sentTexts(_ store: Store, thread: String) throws -> [String] {
        try store.pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT text FROM outbound_messages WHERE kind = 'auto_reply' AND status = 'sent' AND thread_id = ?",
                arguments: [thread])
        }
    }

    @Test("the simulated customers are stored and answered by the rules", .enabled(if: enabled))
    func rules() async throws {
        let dir = try await runDemo([])
        let store = try Store(dataDir: dir)
        let counts = try store.counts()
        #expect(counts.threads == DemoScript.customers.count)
        let inbound = try count(store, "SELECT COUNT(*) FROM messages WHERE direction = 'in'")
        #expect(inbound == DemoScript.steps.count)
        let replies = try count(store, "SELECT COUNT(*) FROM outbound_messages WHERE kind = 'auto_reply' AND status = 'sent'")
        #expect(replies >= DemoScript.customers.count, "every customer got at least one answer")
        #expect(try store.agentSteps(thread: DemoScript.maya.id).isEmpty)
    }

    @Test("--agent: the stand-in model answers through tools, reacts, and hands Jonas over", .enabled(if: enabled))
    func agent() async throws {
        let dir = try await runDemo(["--agent"])
        let store = try Store(dataDir: dir)
        let jonas = try #require(try store.thread(DemoScript.jonas.id))
        #expect(jonas.mode == .human, "\"Can I talk to a human please?\" → handover")
        let priya = try store.agentSteps(thread: DemoScript.priya.id)
        #expect(priya.contains { $0.tool == "react" && $0.ok }, "\(priya.map(\.summary))")
        let sent = try sentTexts(store, thread: DemoScript.aiko.id)
        #expect(sent.contains { $0.contains("Japan") }, "\(sent)")
    }
}
