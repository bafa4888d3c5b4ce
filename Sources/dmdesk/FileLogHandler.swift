import DMDeskCore
import Foundation
import Logging

/// Appends log lines to a file: an embedded daemon must never write over the console's screen.
struct FileLogHandler: LogHandler {
    private let sink: LogLineSink
    private let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, sink: LogLineSink, level: Logger.Level) {
        self.label = label
        self.sink = sink
        self.logLevel = level
    }

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
func bootstrapFileLogging(path: String, level: String, format: LogFormat = .text) -> Logger {
    let parsed = Logger.Level(rawValue: level) ?? .info
    let sink = LogLineSink(appendingTo: path)
    LoggingSystem.bootstrap { label -> any LogHandler in
        switch format {
        case .text: return URLMaskingLogHandler(FileLogHandler(label: label, sink: sink, level: parsed))
        case .json: return URLMaskingLogHandler(JSONLogHandler(label: label, sink: sink, level: parsed))
        }
    }
    return Logger(label: "dmdesk")
}
