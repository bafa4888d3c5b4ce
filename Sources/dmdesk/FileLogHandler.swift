import Foundation
import Logging

/// Appends log lines to a file: an embedded daemon must never write over the console's screen.
struct FileLogHandler: LogHandler {
    private final class Sink: @unchecked Sendable {
        let handle: FileHandle?
        let lock = NSLock()
        init(path: String) {
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            handle = FileHandle(forWritingAtPath: path)
            _ = try? handle?.seekToEnd()
        }
        func write(_ line: String) {
            lock.lock()
            defer { lock.unlock() }
            // A full disk must not stop the daemon: FileHandle.write(_:) traps on ENOSPC; this one throws.
            try? handle?.write(contentsOf: Data(line.utf8))
        }
    }

    private let sink: Sink
    private let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, path: String, level: Logger.Level) {
        self.label = label
        self.sink = Sink(path: path)
        self.logLevel = level
    }

    private init(label: String, sink: Sink, level: Logger.Level) {
        self.label = label
        self.sink = sink
        self.logLevel = level
    }

    func with(label: String) -> FileLogHandler { FileLogHandler(label: label, sink: sink, level: logLevel) }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        var all = metadata
        if let explicit { all.merge(explicit) { _, new in new } }
        let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let stamp = ISO8601DateFormatter().string(from: Date())
        sink.write("\(stamp) \(level)\(meta) [\(source)] \(message)\n")
    }
}

/// Logging for a console process: the daemon inside it logs to `<data dir>/dmdesk.log`.
func bootstrapFileLogging(path: String, level: String) -> Logger {
    let parsed = Logger.Level(rawValue: level) ?? .info
    let root = FileLogHandler(label: "dmdesk", path: path, level: parsed)
    LoggingSystem.bootstrap { label in URLMaskingLogHandler(root.with(label: label)) }
    return Logger(label: "dmdesk")
}
