import ArgumentParser
import DMDeskCore
import Foundation
import Logging

/// Options every subcommand shares: where the configuration and data live.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read settings from this TOML file.", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Directory for the SQLite database (DMDESK_DATA_DIR).", valueName: "dir"))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp("Control socket path (DMDESK_SOCKET).", valueName: "path"))
    var socket: String?

    /// Flags override environment, which overrides the config file, which overrides defaults.
    func resolve(extra: [(String, String?, String)] = []) throws(ConfigError) -> ResolvedConfig {
        var resolved = try ResolvedConfig.load(configFile: config)
        resolved.override("DMDESK_DATA_DIR", with: dataDir, flag: "--data-dir")
        resolved.override("DMDESK_SOCKET", with: socket, flag: "--socket")
        for (name, value, flag) in extra { resolved.override(name, with: value, flag: flag) }
        return resolved
    }

    func load(extra: [(String, String?, String)] = []) throws(ConfigError) -> DMDeskConfig {
        try DMDeskConfig(resolve(extra: extra))
    }
}

/// Prints one line to stderr and exits: start-up errors are one clear line, never a stack trace.
func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("dmdesk: \(URLSecrets.maskingPasswords(in: message))\n".utf8))
    exit(code)
}

func bootstrapLogging(level: String, format: LogFormat) -> Logger {
    let parsed = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label -> any LogHandler in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return URLMaskingLogHandler(handler)
        case .json:
            return URLMaskingLogHandler(LineLogHandler(label: label, sink: .standardError, format: .json, level: parsed))
        }
    }
    var logger = Logger(label: "dmdesk")
    logger.logLevel = parsed
    return logger
}
