import DMDeskCore
import DMDeskDaemon
import DMDeskTesting
import Foundation
import Testing

/// Runs the real `dmdesk` binary and returns (status, stdout, stderr).
func runDmdesk(_ args: [String], cwd: String, env: [String: String] = [:]) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try #require(dmdeskExecutable()))
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    p.environment = ["HOME": cwd, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"].merging(env) { _, new in new }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    while p.isRunning { usleep(1_000) }
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("Scripting commands and the control socket against a real daemon")
struct ScriptingCommandTests {
    @Test("exit codes: 0 success, 1 daemon error, 2 bad usage, 3 no daemon", .enabled(if: dmdeskExecutable() != nil))
    func exitCodes() async throws {
        try await withDaemon(env: ["DMDESK_REPLY_DELAY_MS": "600000"]) { d, _ in
            let socket = d.dataDir + "/dmdesk.sock"
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)

            let (ok, out, _) = try await onThread { try runDmdesk(["threads", "--json", "--socket", socket], cwd: d.dataDir) }
            #expect(ok == 0)
            let threads = try JSONValue.parse(Data(out.utf8))["threads"]?.decode([ThreadSummary].self)
            #expect(threads?.map(\.id) == ["1150723386611240"])

            let (text, plain, _) = try await onThread { try runDmdesk(["history", "1150723386611240", "--socket", socket], cwd: d.dataDir) }
            #expect(text == 0 && plain.contains("Is the blue hoodie still in stock?"))

            let (taken, _, _) = try await onThread { try runDmdesk(["takeover", "1150723386611240", "--socket", socket], cwd: d.dataDir) }
            #expect(taken == 0)
            #expect(try await d.store.thread("1150723386611240")?.mode == .human)

            let (refused, _, err) = try await onThread { try runDmdesk(["send", "no-such-thread", "hello", "--socket", socket], cwd: d.dataDir) }
            #expect(refused == 1)
            #expect(err.contains("not found"))

            let long = String(repeating: "é", count: 600)
            let (tooLong, _, tooLongErr) = try await onThread { try runDmdesk(["send", "1150723386611240", long, "--socket", socket], cwd: d.dataDir) }
            #expect(tooLong == 2 && tooLongErr.contains("1000"))

            let (usage, _, _) = try await onThread { try runDmdesk(["send", "--socket", socket], cwd: d.dataDir) }
            #expect(usage == 2)

            let (none, _, noneErr) = try await onThread { try runDmdesk(["threads", "--socket", d.dataDir + "/nobody.sock"], cwd: d.dataDir) }
            #expect(none == 3)
            #expect(noneErr.contains("no dmdesk daemon"))
        }
    }

    @Test("a second daemon on the same socket refuses to start and names the socket")
    func secondDaemonRefused() async throws {
        try await withRedis { redis in
            let first = try await DaemonHarness(redisURL: redis.url)
            let config = try DaemonHarness.config(dataDir: first.dataDir + "/other", redisURL: redis.url, env: ["DMDESK_SOCKET": first.dataDir + "/dmdesk.sock"])
            let second = try Daemon(config: config, logger: DaemonHarness.quietLogger())
            await #expect {
                try await second.run()
            } throws: { error in
                "\(error)".contains(first.dataDir + "/dmdesk.sock")
            }
            let status = try await onThread {
                try ControlClient.connect(path: first.dataDir + "/dmdesk.sock").request(ControlRequest(id: 1, type: .status))
            }
            #expect(status["status"] != nil, "the first daemon still answers")
            try await first.stop()
        }
    }

    @Test("a client that resubscribes with its last seq gets exactly what it missed")
    func resumeBySeq() async throws {
        try await withDaemon(env: ["DMDESK_REPLY_DELAY_MS": "600000"]) { d, _ in
            let path = d.dataDir + "/dmdesk.sock"
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
            let seqBefore = try await d.store.lastSeq()
            #expect(try await d.post(WebhookFixture.named("batch.json")).status == 200)
            let events = try await onThread { () throws -> [ServerLine] in
                let client = try ControlClient.connect(path: path)
                _ = try client.request(ControlRequest(id: 1, type: .subscribe, since: seqBefore))
                var events: [ServerLine] = []
                let deadline = Date().addingTimeInterval(5)
                while events.count < 6 && Date() < deadline {
                    events += try client.readAvailable().filter { $0.type == "event" }
                    usleep(10_000)
                }
                return events
            }
            #expect(events.compactMap(\.seq) == Array((seqBefore + 1)...(seqBefore + 6)))
            #expect(events.filter { $0.event == EventType.messageReceived }.count == 3)
        }
    }
}
