import ArgumentParser
import DMDeskCore
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the daemon's health: SQLite, Redis, the token, the last webhook.",
        discussion: """
            "last webhook 3 min ago" is the last signed delivery the daemon accepted (kept across restarts). With \
            no webhook for DMDESK_WEBHOOK_SILENCE while Meta's Conversations API shows messages dmdesk lacks, it \
            says webhooks may be failing: check the app's webhook subscription in the App Dashboard, and run \
            `dmdesk sync` to fetch what was missed.
            """)
    @OptionGroup var script: ScriptOptions

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: .status))
        if script.json { return script.printJSON(result) }
        guard let status = try? result["status"]?.decode(DaemonStatus.self) else { fail("the daemon's answer has no status") }
        for line in Self.lines(status, now: nowMillis()) { print(line) }
    }

    static func lines(_ s: DaemonStatus, now: EpochMillis) -> [String] {
        var lines = [
            "listener \(Render.safe(s.listener)), up \(words(seconds: Int64(s.uptimeSeconds)))",
            "sqlite \(s.sqlite) · redis \(s.redis)\(s.redisError.map { " (\(Render.safe($0)))" } ?? "") · token \(s.token)",
            "\(s.threads) threads · \(s.messages) messages · \(s.pendingOutbound) sending",
        ]
        if let hours = s.businessHours { lines.append("business hours: \(hours)") }
        lines.append(webhookLine(s, now: now))
        if let warning = s.webhookWarning { lines.append("WARNING: " + Render.safe(warning)) }
        return lines
    }

    static func webhookLine(_ s: DaemonStatus, now: EpochMillis) -> String {
        guard let at = s.lastWebhookAt else { return "last webhook: never (none accepted yet)" }
        let age = max(0, now - at) / 1000
        return "last webhook \(age < 60 ? "just now" : words(seconds: age) + " ago") (\(Render.time(at)))"
    }

    /// "42 s", "3 min", "5 h", "2 days".
    static func words(seconds: Int64) -> String {
        switch seconds {
        case ..<60: return "\(max(0, seconds)) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<(2 * 86400): return "\(seconds / 3600) h"
        default: return "\(seconds / 86400) days"
        }
    }
}

struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Fetch recent messages webhooks never delivered (Meta's Conversations API).",
        discussion: """
            The daemon lists the conversations active in the window, their messages, and fetches the details of \
            those it does not have; it stores them marked synced (`history --json` shows "synced": true) and the \
            bot does not answer them. Safe to run again: messages are stored once, by id. Meta gives the details \
            of a conversation's 20 most recent messages only; older ones are counted as unavailable. \
            DMDESK_SYNC_EVERY runs this in the daemon periodically.
            """)
    @OptionGroup var script: ScriptOptions
    @Option(help: ArgumentHelp("How far back, like 7d, 12h or 90m.", valueName: "period")) var since = "7d"
    @Option(help: ArgumentHelp("Seconds to wait for the run to finish.", valueName: "seconds")) var timeout: Double = 600

    func validate() throws {
        if case .failure(let problem) = RetentionPeriod.parse(since) { throw ValidationError("--since \(problem.message)") }
        if !(timeout > 0 && timeout <= 86400) { throw ValidationError("--timeout takes 1 to 86400 seconds") }
    }

    func run() throws {
        guard let period = try? RetentionPeriod.parse(since).get() else { fail("--since: not a period", code: ScriptExit.usage) }
        let request = ControlRequest(id: 1, type: .sync, after: nowMillis() - period.milliseconds)
        let client = script.connect()
        defer { client.close() }
        let result: JSONValue
        do { result = try client.request(request, timeout: timeout) } catch ControlClientError.server(let error) {
            fail(error.message, code: ScriptExit.daemonError)
        } catch {
            fail("\(error)", code: ScriptExit.noDaemon)
        }
        if script.json { return script.printJSON(result) }
        func n(_ key: String) -> Int { Int(result[key]?.int64Value ?? 0) }
        print(
            "synced the last \(period): \(n("conversations")) conversations (\(n("pages")) pages), \(n("messages")) messages; "
                + "\(n("fetched")) fetched, \(n("inserted")) inserted, \(n("known")) already stored, \(n("unavailable")) unavailable")
    }
}
