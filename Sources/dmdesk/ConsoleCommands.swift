import ArgumentParser
import DMDeskConsole
import DMDeskCore
import DMDeskDaemon
import Foundation

/// Options of every command that opens the console.
struct ConsoleFlags: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Colour theme: a name from themes/ or a path to a .toml (DMDESK_THEME).", valueName: "name|path"))
    var theme: String?

    @Flag(name: .long, inversion: .prefixedNo, help: "Ring the terminal bell for new messages in threads a person handles (DMDESK_BELL).")
    var bell: Bool?

    func options(socketPath: String, config: DMDeskConfig, requireDaemon: Bool) -> ConsoleOptions {
        let chosen: Theme
        do {
            chosen = try Theme.resolve(requested: theme ?? config.theme)
        } catch {
            fail("\(error)")
        }
        return ConsoleOptions(socketPath: socketPath, theme: chosen, bell: bell ?? config.bell, requireDaemon: requireDaemon)
    }
}

/// `dmdesk` with no subcommand: attach to a running daemon, or run one inside this process and attach to it.
enum ConsoleLauncher {
    static func run(config: DMDeskConfig, flags: ConsoleFlags, allowUnsigned: Bool) async -> Int32 {
        if daemonAnswers(at: config.socketPath) {
            let options = flags.options(socketPath: config.socketPath, config: config, requireDaemon: true)
            return await runOnOwnThread { ConsoleApp.run(options) }
        }
        try? FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        let logPath = config.dataDir + "/dmdesk.log"
        let logger = bootstrapFileLogging(path: logPath, level: config.logLevel, format: config.logFormat)
        let embedded: EmbeddedDaemon
        do {
            embedded = try await EmbeddedDaemon(
                config: config, options: DaemonOptions(allowUnsigned: allowUnsigned), logger: logger)
        } catch {
            fail("could not start the daemon: \(error) (log: \(logPath))")
        }
        let options = flags.options(socketPath: config.socketPath, config: config, requireDaemon: true)
        let status = await runOnOwnThread { ConsoleApp.run(options) }
        await embedded.stop()
        return status
    }
}

struct AttachCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach", abstract: "Open the console on a running daemon (never starts one).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var flags: ConsoleFlags

    func run() async throws {
        let config: DMDeskConfig
        do { config = try global.load() } catch { fail("\(error)") }
        guard daemonAnswers(at: config.socketPath) else {
            fail("no dmdesk daemon is running on \(config.socketPath); start one with `dmdesk --daemon`, or run `dmdesk` to start one inside the console", code: 3)
        }
        let options = flags.options(socketPath: config.socketPath, config: config, requireDaemon: true)
        let status = await runOnOwnThread { ConsoleApp.run(options) }
        throw ExitCode(status)
    }
}
