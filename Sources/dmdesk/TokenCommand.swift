import ArgumentParser
import DMDeskCore
import DMDeskDaemon
import Foundation
import Logging

/// `dmdesk token status|refresh`: the Instagram access token's expiry and health, and a refresh on demand.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Show the Instagram access token's state, or refresh it now.",
        discussion: """
            Instagram-login long-lived tokens expire after 60 days. With DMDESK_TOKEN_REFRESH=auto the daemon \
            refreshes the token ten days before it expires and keeps the new one in the data directory \
            (access-token.json, mode 0600); it is used instead of INSTAGRAM_ACCESS_TOKEN until that setting \
            changes. The token itself is never printed.
            """,
        subcommands: [TokenStatusCommand.self, TokenRefreshCommand.self],
        defaultSubcommand: TokenStatusCommand.self)
}

struct TokenStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Where the token comes from, when it expires, when it was last checked.",
        discussion: """
            Asks the running daemon; with none running, reads the configuration and access-token.json (the last \
            check is then unknown). Exits 1 when Meta has refused the token.
            """)

    @OptionGroup var script: ScriptOptions

    func run() async throws {
        let (report, live) = TokenReportSource.fetch(script: script, type: .tokenStatus)
        TokenReportSource.print(report, live: live, script: script)
        if report.status == "invalid" { throw ExitCode(ScriptExit.daemonError) }
    }
}

struct TokenRefreshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresh",
        abstract: "Refresh the token now (GET /refresh_access_token) and keep the new one.",
        discussion: """
            The running daemon refreshes and starts using the new token at once; with none running, dmdesk \
            refreshes it itself and the next daemon picks it up from access-token.json. Meta refreshes only \
            Instagram-login long-lived tokens that are at least 24 hours old and not expired.
            """)

    @OptionGroup var script: ScriptOptions

    func run() async throws {
        let (report, live) = await TokenReportSource.refresh(script: script)
        if !script.json { print("refreshed: the new token expires \(report.expiresAt.map { iso8601UTC(millis: $0) } ?? "at an unknown time")") }
        TokenReportSource.print(report, live: live, script: script)
    }
}

/// The daemon's answer when one runs, else the offline view of the same data directory.
enum TokenReportSource {
    static func config(_ script: ScriptOptions) -> DMDeskConfig {
        do { return try script.global.load() } catch { fail("\(error)", code: ScriptExit.usage) }
    }

    static func fetch(script: ScriptOptions, type: ControlRequestType) -> (TokenReport, live: Bool) {
        let config = config(script)
        guard let client = try? ControlClient.connect(path: config.socketPath, timeout: 3) else {
            return (OfflineToken.report(config: config, logger: Logger(label: "dmdesk.token")), false)
        }
        defer { client.close() }
        do {
            let result = try client.request(ControlRequest(id: 1, type: type), timeout: 60)
            guard let token = result["token"] else { fail("the daemon answered without `token`", code: ScriptExit.daemonError) }
            return (try token.decode(TokenReport.self), true)
        } catch ControlClientError.server(let error) {
            fail(error.message, code: ScriptExit.daemonError)
        } catch {
            fail("\(error)", code: ScriptExit.noDaemon)
        }
    }

    static func refresh(script: ScriptOptions) async -> (TokenReport, live: Bool) {
        let config = config(script)
        if (try? ControlClient.connect(path: config.socketPath, timeout: 3)).map({ $0.close() }) != nil {
            return fetch(script: script, type: .tokenRefresh)
        }
        switch await OfflineToken.refresh(config: config, logger: Logger(label: "dmdesk.token")) {
        case .success(let report): return (report, false)
        case .failure(let error): fail("token refresh failed: \(error.message)", code: ScriptExit.daemonError)
        }
    }

    static func print(_ r: TokenReport, live: Bool, script: ScriptOptions) {
        if script.json {
            guard case .object(var members) = JSONValue.from(r) else { return }
            members["daemon"] = .bool(live)
            return script.printJSON(.object(members))
        }
        func time(_ millis: EpochMillis?) -> String {
            guard let millis else { return "unknown" }
            let days = Double(millis - nowMillis()) / 86_400_000
            let relative = days >= 0 ? String(format: "in %.1f days", days) : String(format: "%.1f days ago", -days)
            return "\(iso8601UTC(millis: millis)) (\(relative))"
        }
        var lines = ["token      \(r.status)" + (r.error.map { ": \($0)" } ?? "")]
        lines.append("source     " + (r.source.map { $0 == "refreshed" ? "refreshed (access-token.json)" : "INSTAGRAM_ACCESS_TOKEN" } ?? "none: set INSTAGRAM_ACCESS_TOKEN"))
        lines.append("expires    " + (r.expiresAt == nil ? "unknown until the first refresh" : time(r.expiresAt)))
        lines.append("refresh    " + (r.refresh == "auto" ? "auto (ten days before expiry)" : "off (DMDESK_TOKEN_REFRESH=auto to turn it on)"))
        if let next = r.nextRefreshAt { lines.append("next       " + time(next)) }
        if live {
            lines.append("checked    " + (r.lastCheckAt.map { time($0) + (r.lastCheck.map { ": " + $0 } ?? "") } ?? "not yet"))
        } else {
            lines.append("daemon     not running (the last check is the daemon's to know)")
        }
        Swift.print(lines.joined(separator: "\n"))
    }
}
