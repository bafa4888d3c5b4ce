import DMDeskCore
import DMDeskDaemon
import DMDeskDemo
import DMDeskTesting
import Foundation
import Testing

/// Snooze from the console (tmux) with the daemon on a clock the test moves (`DMDESK_CLOCK_FILE`'s kind), and the
/// daemon's side over its real socket: a restart keeps a snooze and ends it once due.
@Suite("Snoozing threads (tmux, a fake clock, a restart)", .serialized)
struct SnoozeInTerminalTests {
    typealias Rig = ConsoleInTerminalTests.Rig

    func setClock(_ path: String, _ ms: EpochMillis) throws {
        try String(ms).write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("z 1 snoozes for an hour: gone from the list, back marked when the clock passes it; z r until the customer writes",
          .enabled(if: ConsoleInTerminalTests.enabled))
    func snoozeUntilATimeAndUntilReply() async throws {
        let clockFile = try makeTempDirectory(prefix: "dmdesk-clock") + "/now"
        let start = nowMillis()
        try setClock(clockFile, start)
        let rig = try await Rig.start(width: 120, height: 30, snoozeClock: SnoozeClock(file: clockFile))
        #expect(await rig.terminal.waitAsync("token ok").0)
        try await rig.customerSays("Can I change my order?")
        #expect(await rig.terminal.waitAsync("Ana Lima").0)

        try await rig.terminal.pressAsync("z")
        let (picker, pickerScreen) = await rig.terminal.waitAsync("Snooze: 1 1 h")
        #expect(picker, "\(pickerScreen)")
        try await rig.terminal.pressAsync("1")
        let (gone, goneScreen) = await rig.terminal.waitAsync("1 snoozed (Z shows them)")
        #expect(gone, "the thread left the list:\n\(goneScreen)")
        let snoozed = try #require(try await rig.daemon.store.thread("9001"))
        #expect(snoozed.status == .snoozed)
        let until = try #require(snoozed.snoozedUntil)
        #expect(abs(until - start - 3_600_000) < 60_000, "an hour from when z was pressed")

        try await rig.terminal.pressAsync("Z")
        #expect(await rig.terminal.waitAsync("◷ snoozed till").0, "Z shows it, with its time")
        try await rig.terminal.pressAsync("Z")

        try setClock(clockFile, until + 1)
        let (back, backScreen) = await rig.terminal.waitAsync("⏰ back from snooze")
        #expect(back, "the snooze ended at its time, live:\n\(backScreen)")
        #expect(try await rig.daemon.store.thread("9001")?.status == .open)

        try await rig.terminal.pressAsync("z")
        try await rig.terminal.pressAsync("r")
        #expect(await rig.terminal.waitAsync("1 snoozed (Z shows them)").0)
        #expect(try await rig.daemon.store.thread("9001")?.snoozedUntil == nil)
        try setClock(clockFile, until + 86_400_000 * 30)
        try? await Task.sleep(for: .milliseconds(300))
        #expect(try await rig.daemon.store.thread("9001")?.status == .snoozed, "no time ends an until-reply snooze")

        try await rig.customerSays("Hello? Anyone?")
        let (replied, repliedScreen) = await rig.terminal.waitAsync { $0.contains("⏰ back from snooze") && $0.contains("Anyone?") }
        #expect(replied, "the customer writing ended it:\n\(repliedScreen)")
        try await rig.stop()
    }

    @Test("a snooze set over the socket survives a restart and ends at start-up once due; a past time is refused")
    func restartKeepsAndCatchesUp() async throws {
        try await withRedis { redis in
            let clockFile = try makeTempDirectory(prefix: "dmdesk-clock") + "/now"
            let now = nowMillis()
            try setClock(clockFile, now)
            var options = DaemonOptions()
            options.snoozeClock = SnoozeClock(file: clockFile)
            let first = try await DaemonHarness(redisURL: redis.url, options: options)
            #expect(try await first.post(WebhookFixture.named("text.json")).status == 200)
            let thread = "1150723386611240"
            let path = first.dataDir + "/dmdesk.sock"
            let answer = try await onThread {
                let client = try ControlClient.connect(path: path)
                defer { client.close() }
                var past = ControlRequest(id: 1, type: .snooze, thread: thread)
                past.until = now - 1
                var refusal: ControlError? = nil
                do { _ = try client.request(past, timeout: 10) } catch ControlClientError.server(let error) { refusal = error }
                #expect(refusal?.code == "bad_request" && refusal?.message.contains("past") == true)
                var request = ControlRequest(id: 2, type: .snooze, thread: thread)
                request.until = now + 600_000
                return try client.request(request, timeout: 10)
            }
            #expect(answer["thread"]?["status"]?.stringValue == "snoozed")
            try await first.stop()

            try setClock(clockFile, now + 600_001)  // it came due while the daemon was down
            let second = try await DaemonHarness(redisURL: redis.url, dataDir: first.dataDir, options: options)
            #expect(await eventually { (try? await second.store.thread(thread)?.status) == .open }, "ended at start-up")
            #expect(try await second.store.thread(thread)?.snoozeEndedAt == now + 600_001)
            try await second.stop()
        }
    }
}
