import DMDeskCore
import Foundation
import Logging

/// Writes whole lines to a sink in either format: text (a console's `dmdesk.log`), or `DMDESK_LOG_FORMAT=json`, one
/// JSON object a line (level, time, label, message, metadata) for shippers that parse rather than grep. Always
/// wrapped in URLMaskingLogHandler, so passwords in URLs are masked in both.
struct LineLogHandler: LogHandler {
    let label: String
    let sink: LogLineSink
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, sink: LogLineSink, format: LogFormat, level: Logger.Level) {
        self.label = label
        self.sink = sink
        self.format = format
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let explicit { all.merge(explicit) { _, new in new } }
        let time = Self.timestamp(Date())
        switch format {
        case .text:
            let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.write("\(time) \(level)\(meta) [\(source)] \(message)\n")
        case .json:
            let object: JSONValue = .object([
                "level": .string(level.rawValue),
                "time": .string(time),
                "label": .string(label),
                "message": .string(message.description),
                "metadata": .object(all.mapValues(Self.json)),
            ])
            sink.write(object.compactString + "\n")
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .stringConvertible(let c): return .string(c.description)
        case .array(let items): return .array(items.map(json))
        case .dictionary(let members): return .object(members.mapValues(json))
        }
    }

    /// RFC 3339 in UTC with milliseconds: sortable as text, and what log shippers parse without a format string.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }
}

/// Where whole log lines go; one lock so lines from concurrent tasks never interleave.
final class LogLineSink: @unchecked Sendable {
    private let handle: FileHandle?
    private let lock = NSLock()

    static let standardError = LogLineSink(handle: FileHandle.standardError)

    private init(handle: FileHandle?) { self.handle = handle }

    /// Appends to `path`, created 0600: the log may name customers.
    convenience init(appendingTo path: String) {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
        self.init(handle: handle)
    }

    func write(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        // A full disk or a closed stderr must not stop the daemon: FileHandle.write(_:) traps; this one throws.
        try? handle?.write(contentsOf: Data(line.utf8))
    }
}

/// Logging for a console process: the daemon inside it logs to `<data dir>/dmdesk.log`, never over the screen.
func bootstrapFileLogging(path: String, level: String, format: LogFormat = .text) -> Logger {
    let parsed = Logger.Level(rawValue: level) ?? .info
    let sink = LogLineSink(appendingTo: path)
    LoggingSystem.bootstrap { label in
        URLMaskingLogHandler(LineLogHandler(label: label, sink: sink, format: format, level: parsed))
    }
    return Logger(label: "dmdesk")
}
