import DMDeskCore
import Foundation
import Glibc

/// Encoding and decoding of single protocol lines, shared by the server, clients and tests.
public enum ControlLine {
    /// A server line as compact JSON (sorted keys) followed by "\n", written without Foundation's encoder
    /// (a `threads` reply for 10,000 threads is megabytes, once per client).
    public static func encode(_ line: ServerLine) -> Data {
        var data = Data(line.jsonValue.compactString.utf8)
        data.append(0x0A)
        return data
    }

    /// A request as one line, for clients.
    public static func encode(_ request: ControlRequest, using encoder: JSONEncoder = .compact) throws -> Data {
        var data = try encoder.encode(request)
        data.append(0x0A)
        return data
    }

    /// Why a request line was refused, with the `id` to answer to (JSON null when it could not be read).
    public struct Rejection: Error, Sendable, Equatable {
        public var id: JSONValue
        public var error: ControlError
        public init(id: JSONValue, error: ControlError) {
            self.id = id
            self.error = error
        }
    }

    /// Requests are flat objects; anything nested deeper than this is refused before a parser recurses into
    /// it (a reader thread has a 1 MiB stack, and a 1 MiB line can nest far deeper than that survives).
    public static let maxNestingDepth = 32
    /// Numbers in requests (`since`, `limit`, `before`, `outbound`) are whole and below 2^53, the range a
    /// JSON number carries exactly; anything else is refused rather than rounded, clamped or trapped on.
    public static let maxWholeNumber: Int64 = (1 << 53) - 1

    /// Parses one request line (without its newline). Every malformed line gets a typed rejection; nothing
    /// in a line can crash the reader.
    public static func decodeRequest(_ line: some Collection<UInt8>) -> Result<ControlRequest, Rejection> {
        let bytes = Array(line)
        func refuse(_ id: JSONValue, _ message: String) -> Result<ControlRequest, Rejection> {
            .failure(Rejection(id: id, error: .badRequest(message)))
        }
        guard String(validating: bytes, as: UTF8.self) != nil else { return refuse(.null, "line is not valid UTF-8") }
        let shape = bytes.withUnsafeBytes { LineShape.scan($0, maxDepth: maxNestingDepth) }
        if shape.tooDeep { return refuse(.null, "line is nested deeper than \(maxNestingDepth) levels") }
        guard let json = try? JSONValue.parse(Data(bytes)) else { return refuse(.null, "line is not valid JSON") }
        guard let members = json.objectValue else { return refuse(.null, "a request must be a JSON object") }
        let id = members["id"] ?? .null
        switch id {
        case .string, .number: break
        case .null: return refuse(.null, "a request needs an \"id\"")
        default: return refuse(.null, "\"id\" must be a string or a number")
        }
        // A request acts on something: with a key given twice, which thread or text was meant is a guess.
        if let key = shape.duplicateKey { return refuse(id, "key \"\(key)\" appears more than once") }
        guard let typeName = members["type"]?.stringValue else { return refuse(id, "a request needs a string \"type\"") }
        guard let type = ControlRequestType(rawValue: typeName) else {
            return .failure(Rejection(id: id, error: ControlError(
                code: "unknown_request", message: "unknown request type \"\(Sanitized.short(typeName))\"")))
        }
        do {
            var fields = RequestFields(members)
            var request = ControlRequest(
                id: id, type: type, thread: try fields.string("thread"), text: try fields.string("text"),
                mid: try fields.string("mid"), reaction: try fields.string("reaction"),
                before: try fields.wholeNumber("before"), limit: try fields.wholeNumber("limit").map { Int($0) },
                since: try fields.wholeNumber("since"), mode: try fields.choice("mode", ThreadMode.self),
                status: try fields.choice("status", ThreadStatus.self), unread: try fields.bool("unread"),
                search: try fields.string("search"), outbound: try fields.wholeNumber("outbound"),
                attachment: try fields.attachment("attachment"),
                path: try fields.string("path"), after: try fields.wholeNumber("after"))
            request.comment = try fields.string("comment")
            request.public = try fields.bool("public")
            request.unanswered = try fields.bool("unanswered")
            request.until = try fields.wholeNumber("until")
            request.cancel = try fields.bool("cancel")
            return .success(request)
        } catch {
            return refuse(id, error.message)
        }
    }

    /// Typed reads of a request's parameters; absent and `null` both mean "not given".
    private struct RequestFields {
        struct Problem: Error { var message: String }
        let members: [String: JSONValue]
        init(_ members: [String: JSONValue]) { self.members = members }

        private func value(_ key: String) -> JSONValue? {
            guard let v = members[key], v != .null else { return nil }
            return v
        }

        func string(_ key: String) throws(Problem) -> String? {
            guard let v = value(key) else { return nil }
            guard let s = v.stringValue else { throw Problem(message: "field \"\(key)\" has the wrong type") }
            // SQLite and C APIs stop at NUL: "123\0x" would silently act on thread "123".
            guard !s.utf8.contains(0) else { throw Problem(message: "field \"\(key)\" contains a NUL character") }
            return s
        }

        func wholeNumber(_ key: String) throws(Problem) -> Int64? {
            guard let v = value(key) else { return nil }
            guard case .number(let d) = v else { throw Problem(message: "field \"\(key)\" has the wrong type") }
            // Int64(exactly:) is nil for fractions, NaN, infinities and anything out of range: it never traps.
            guard let n = Int64(exactly: d), n >= 0, n <= ControlLine.maxWholeNumber else {
                throw Problem(message: "field \"\(key)\" must be a whole number from 0 to \(ControlLine.maxWholeNumber)")
            }
            return n
        }

        func bool(_ key: String) throws(Problem) -> Bool? {
            guard let v = value(key) else { return nil }
            guard let b = v.boolValue else { throw Problem(message: "field \"\(key)\" has the wrong type") }
            return b
        }

        /// `{"type": "image"|"video"|"audio"|"file", "url": "https://…"}`; the URL is checked here, before anything is queued.
        func attachment(_ key: String) throws(Problem) -> OutgoingAttachment? {
            guard let v = value(key) else { return nil }
            guard let object = v.objectValue else { throw Problem(message: "field \"\(key)\" must be an object {type, url}") }
            let inner = RequestFields(object)
            guard let url = try inner.string("url") else { throw Problem(message: "field \"\(key)\" needs a \"url\"") }
            let type: AttachmentKind?
            do { type = try inner.choice("type", AttachmentKind.self) } catch {
                throw Problem(message: "field \"\(key).type\" must be one of image, video, audio, file")
            }
            switch OutgoingAttachment.make(url: url, type: type) {
            case .success(let attachment): return attachment
            case .failure(let problem): throw Problem(message: problem.message)
            }
        }

        func choice<T: RawRepresentable>(_ key: String, _: T.Type) throws(Problem) -> T? where T.RawValue == String {
            guard let raw = try string(key) else { return nil }
            guard let choice = T(rawValue: raw) else { throw Problem(message: "field \"\(key)\" has an invalid value") }
            return choice
        }
    }

    /// Keeps an echoed name short: the error line must not grow with whatever the client sent.
    private enum Sanitized {
        static func short(_ text: String) -> String { text.count <= 64 ? text : String(text.prefix(64)) + "…" }
    }
}

/// What a request line looks like before any parser touches it: how deep it nests and whether the
/// top-level object repeats a key. One pass over the bytes, no recursion.
struct LineShape {
    var tooDeep = false
    var duplicateKey: String?

    static func scan(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) -> LineShape {
        var shape = LineShape()
        var depth = 0
        var topIsObject = false
        var expectingKey = false
        var keys = Set<String>()
        var i = 0
        let n = bytes.count
        while i < n {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                let start = i + 1
                var j = start
                var escaped = false
                while j < n && bytes[j] != UInt8(ascii: "\"") {
                    if bytes[j] == UInt8(ascii: "\\") { escaped = true; j += 2 } else { j += 1 }
                }
                guard j < n else { return shape }  // unterminated: the parser says so
                if depth == 1 && topIsObject && expectingKey {
                    expectingKey = false
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[(start - 1)...j])
                    // An escaped key ("th\u0072ead") is compared as what it spells.
                    let key = escaped
                        ? (try? JSONValue.parse(Data(raw)))?.stringValue
                        : String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<j]), as: UTF8.self)
                    if let key, !keys.insert(key).inserted, shape.duplicateKey == nil { shape.duplicateKey = key }
                }
                i = j + 1
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth {
                    shape.tooDeep = true
                    return shape
                }
                if depth == 1 {
                    topIsObject = bytes[i] == UInt8(ascii: "{")
                    expectingKey = topIsObject
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 && topIsObject { expectingKey = true }
            default:
                break
            }
            i += 1
        }
        return shape
    }
}

/// Splits a byte stream into newline-terminated lines, refusing any line longer than
/// `maxLineBytes` without buffering it: the rest of an oversized line is skipped up to its newline.
public struct LineFramer: Sendable {
    public enum Frame: Sendable, Equatable {
        case line([UInt8])
        /// A line exceeded the limit; reported once, as soon as it is known, and the rest is discarded.
        case tooLong
    }

    public let maxLineBytes: Int
    private var partial: [UInt8] = []
    private var discarding = false

    public init(maxLineBytes: Int = ControlProtocol.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Feeds received bytes; returns the frames they complete. Empty lines are skipped and a
    /// trailing "\r" is dropped.
    public mutating func push(_ bytes: UnsafeRawBufferPointer) -> [Frame] {
        var frames: [Frame] = []
        guard let base = bytes.baseAddress else { return frames }
        var start = 0
        let end = bytes.count
        while start < end {
            if let found = memchr(base + start, 0x0A, end - start) {
                let newline = base.distance(to: UnsafeRawPointer(found))
                if discarding {
                    discarding = false
                } else if partial.count + (newline - start) > maxLineBytes {
                    frames.append(.tooLong)
                } else {
                    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<newline]))
                    if partial.last == 0x0D { partial.removeLast() }
                    if !partial.isEmpty { frames.append(.line(partial)) }
                }
                resetPartial()
                start = newline + 1
            } else {
                if !discarding {
                    if partial.count + (end - start) > maxLineBytes {
                        frames.append(.tooLong)
                        discarding = true
                        resetPartial()
                    } else {
                        partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                    }
                }
                start = end
            }
        }
        return frames
    }

    public mutating func push(_ bytes: [UInt8]) -> [Frame] {
        bytes.withUnsafeBytes { push($0) }
    }

    private mutating func resetPartial() {
        // Keep a modest buffer around; let a one-off huge line's memory go.
        if partial.capacity > 64 * 1024 { partial = [] } else { partial.removeAll(keepingCapacity: true) }
    }
}
