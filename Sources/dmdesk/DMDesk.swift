import ArgumentParser
import DMDeskCore
import DMDeskDaemon
import Foundation
import Logging
import ServiceLifecycle

struct DMDesk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmdesk",
        abstract: "A terminal inbox for Instagram Direct Messages.",
        discussion: """
            With no subcommand, opens the console: it attaches to a running daemon, or starts one inside \
            its own process. `dmdesk --daemon` runs headless (webhook listener, store, replies, control socket). \
            `dmdesk demo` shows everything with no account and no network.
            """,
        version: DaemonRuntime.version,
        subcommands: [
            AttachCommand.self, DemoCommand.self, ConfigCommand.self,
            ThreadsCommand.self, HistoryCommand.self, SearchCommand.self, SendCommand.self,
            ThreadActionCommand<TakeoverAction>.self, ThreadActionCommand<ReleaseAction>.self,
            ThreadActionCommand<ResolveAction>.self, SnoozeCommand.self, NotifyCommand.self, ReactCommand.self, TailCommand.self,
            CommentsCommand.self, CommentReplyCommand.self, RulesCommand.self, ProfileCommand.self, TokenCommand.self,
            BackupCommand.self, RestoreCommand.self, DoctorCommand.self,
            StatusCommand.self, SyncCommand.self,
        ])

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Run headless: webhook listener, store and control socket. Logs to stderr.")
    var daemon = false

    @Option(name: .long, help: ArgumentHelp("Port for the webhook listener (PORT).", valueName: "n"))
    var port: Int?

    @Option(name: .long, help: ArgumentHelp("Address for the webhook listener (HOST).", valueName: "addr"))
    var host: String?

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning or error (DMDESK_LOG_LEVEL).", valueName: "level"))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("text, or json for one JSON object a line (DMDESK_LOG_FORMAT).", valueName: "format"))
    var logFormat: String?

    @Flag(name: .long, help: "Accept webhooks without checking signatures when no app secret is set (local testing only).")
    var allowUnsigned = false

    @OptionGroup var console: ConsoleFlags

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0-65535") }
    }

    func run() async throws {
        let config: DMDeskConfig
        do {
            config = try global.load(extra: [
                ("PORT", port.map(String.init), "--port"), ("HOST", host, "--host"), ("DMDESK_LOG_LEVEL", logLevel, "--log-level"),
                ("DMDESK_LOG_FORMAT", logFormat, "--log-format"),
            ])
        } catch { fail("\(error)") }
        if daemon {
            await runDaemon(config)
        } else {
            let status = await ConsoleLauncher.run(config: config, flags: console, allowUnsigned: allowUnsigned)
            throw ExitCode(status)
        }
    }

    func runDaemon(_ config: DMDeskConfig) async {
        let logger = bootstrapLogging(level: config.logLevel, format: config.logFormat)
        let daemon: Daemon
        do {
            daemon = try Daemon(config: config, options: DaemonOptions(allowUnsigned: allowUnsigned), logger: logger)
        } catch { fail("\(error)") }
        logger.info(
            "dmdesk daemon starting",
            metadata: ["version": "\(DaemonRuntime.version)", "data_dir": "\(config.dataDir)", "redis": "\(config.redis)"])
        let group = ServiceGroup(
            configuration: .init(services: [daemon], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            fail("\(error)")
        }
    }
}

/// Entry point: argument errors exit 2 (bad usage), as the scripting commands promise.
@main
enum Main {
    static func main() async {
        do {
            var command = try DMDesk.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = DMDesk.exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((DMDesk.fullMessage(for: error) + "\n").utf8))
                exit(ScriptExit.usage)
            }
            DMDesk.exit(withError: error)
        }
    }
}
