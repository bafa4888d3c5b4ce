import ArgumentParser
import DMDeskCore
import DMDeskStore
import Foundation

/// `dmdesk backup FILE`: a consistent copy of the database, taken while webhooks keep arriving.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of the database to FILE, while the daemon runs.",
        discussion: """
            With a daemon running, the daemon writes the copy (SQLite's VACUUM INTO: one snapshot, writers \
            go on), so FILE's directory must be writable by the daemon's user. With none running, dmdesk copies \
            the database itself. The copy is opened and checked (PRAGMA integrity_check) before it takes FILE's \
            name; FILE must not exist yet. Prints what the backup holds, up to which event seq.
            """)

    @OptionGroup var script: ScriptOptions

    @Argument(help: ArgumentHelp("The backup file to create, e.g. /var/backups/dmdesk/dmdesk-$(date +%F).sqlite.", valueName: "file"))
    var file: String

    func validate() throws {
        if file.isEmpty { throw ValidationError("FILE must not be empty") }
    }

    func run() async throws {
        let destination = URL(fileURLWithPath: file).standardizedFileURL.path
        let config: DMDeskConfig
        do { config = try script.global.load() } catch { fail("\(error)", code: ScriptExit.usage) }
        let report: BackupReport
        if let client = try? ControlClient.connect(path: config.socketPath, timeout: 3) {
            defer { client.close() }
            do {
                // A large database takes a while to copy.
                let result = try client.request(ControlRequest(id: 1, type: .backup, path: destination), timeout: 3600)
                report = try result.decode(BackupReport.self)
            } catch ControlClientError.server(let error) {
                fail("backup failed: \(error.message)", code: ScriptExit.daemonError)
            } catch {
                fail("backup failed: \(error)", code: ScriptExit.noDaemon)
            }
        } else {
            do {
                let store = try SQLiteStore(dataDir: config.dataDir)
                do {
                    report = try await store.backup(to: destination)
                } catch {
                    try? await store.close()
                    throw error
                }
                try await store.close()
            } catch {
                fail("backup failed: \(error)", code: ScriptExit.daemonError)
            }
        }
        if script.json { return script.printJSON(.from(report)) }
        print("backup \(report.path): \(report.bytes) bytes, \(report.threads) threads, \(report.messages) messages, events up to seq \(report.lastSeq), integrity \(report.integrity)")
    }
}

/// `dmdesk restore FILE`: puts a backup in place of the database, with the daemon stopped.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace the database with a backup (stop the daemon first).",
        discussion: """
            Refused while a daemon or console has the data directory open. FILE is checked (it opens, passes \
            PRAGMA integrity_check, and has a schema this dmdesk knows) before anything is replaced; the \
            database it replaces is moved aside as dmdesk.sqlite.before-restore-<time>, never deleted. \
            Consoles that reconnect afterwards reload (their event seq is past the restored journal).
            """)

    @OptionGroup var script: ScriptOptions

    @Argument(help: ArgumentHelp("A file written by `dmdesk backup`.", valueName: "file"))
    var file: String

    func validate() throws {
        if file.isEmpty { throw ValidationError("FILE must not be empty") }
    }

    func run() throws {
        let source = URL(fileURLWithPath: file).standardizedFileURL.path
        let config: DMDeskConfig
        do { config = try script.global.load() } catch { fail("\(error)", code: ScriptExit.usage) }
        let report: RestoreReport
        do { report = try SQLiteStore.restore(from: source, dataDir: config.dataDir) } catch {
            fail("restore refused: \(error)", code: ScriptExit.daemonError)
        }
        if script.json {
            return script.printJSON(["restored": .from(report.restored), "previous": report.previous.map { .string($0) } ?? .null])
        }
        print("restored \(report.restored.path) into \(config.dataDir): \(report.restored.threads) threads, \(report.restored.messages) messages, events up to seq \(report.restored.lastSeq)")
        if let previous = report.previous { print("the database it replaced is kept at \(previous)") }
    }
}
