import ArgumentParser
import DMDeskCore

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration and where each value came from (secrets masked).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let resolved: ResolvedConfig
        do { resolved = try global.resolve() } catch { fail("\(error)") }
        print(resolved.describe())
        do { _ = try DMDeskConfig(resolved) } catch { fail("\(error)") }
        if let c = try? DMDeskConfig(resolved) {
            print("# data dir: \(c.dataDir)")
            print("# socket:   \(c.socketPath)")
        }
    }
}
