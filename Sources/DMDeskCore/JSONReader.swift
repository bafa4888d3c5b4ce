import Foundation

/// The one JSON reader for `JSONValue`: strict RFC 8259, straight from bytes (no copy, no JSONDecoder).
///
/// Rules that differ from, or are stricter than, Foundation's JSONDecoder — chosen once, here, for every caller:
/// - A repeated object key: the last value wins (JSONDecoder keeps the first; most JSON parsers keep the last).
/// - Nesting deeper than `maxDepth` is refused before anything deeper is read, so a hostile body costs linear time
///   (JSONDecoder takes quadratic time on deep input: 0.8 s for 500 levels).
/// - UTF-8 only: no byte-order mark, no UTF-16 or UTF-32 (JSONDecoder guesses those from NUL bytes at the start).
/// - No trailing commas (JSONDecoder takes them), no raw control characters in strings.
/// - A number that does not fit a Double (1e400) is refused; one too small for it (1e-400) reads as 0.
/// - Strings must be valid UTF-8, and `\u` escapes whole scalars (a lone surrogate is refused).
/// Otherwise the value is exactly what JSONDecoder yields for the same bytes.
public struct JSONReader {
    /// Deep enough for anything Meta sends (a webhook body is about 7 levels deep) and for our journal rows,
    /// which wrap a webhook event's raw JSON in two more levels.
    public static let defaultMaxDepth = 256
    /// Webhook bodies: deeper than Meta ever sends, and cheap to refuse.
    public static let webhookMaxDepth = 64

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public enum Reason: Equatable, Sendable {
            case unexpectedEnd
            case unexpectedByte(UInt8)
            case controlCharacterInString
            case invalidEscape
            case invalidUnicodeEscape
            case invalidUTF8
            case numberOutOfRange
            case tooDeep(limit: Int)
            case trailingData
        }
        public var reason: Reason
        /// Byte offset where reading stopped.
        public var offset: Int

        public init(reason: Reason, offset: Int) {
            self.reason = reason
            self.offset = offset
        }

        public var description: String {
            switch reason {
            case .unexpectedEnd: return "unexpected end of input at byte \(offset)"
            case .unexpectedByte(let b):
                let shown = (0x21..<0x7F).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : String(format: "0x%02X", b)
                return "unexpected \(shown) at byte \(offset)"
            case .controlCharacterInString: return "unescaped control character in a string at byte \(offset)"
            case .invalidEscape: return "invalid escape in a string at byte \(offset)"
            case .invalidUnicodeEscape: return "invalid \\u escape (lone surrogate or bad hex) at byte \(offset)"
            case .invalidUTF8: return "invalid UTF-8 in a string ending at byte \(offset)"
            case .numberOutOfRange: return "number out of range at byte \(offset)"
            case .tooDeep(let limit): return "nested deeper than \(limit) levels at byte \(offset)"
            case .trailingData: return "unexpected data after the JSON value at byte \(offset)"
            }
        }
    }

    private let bytes: UnsafeRawBufferPointer
    private let maxDepth: Int
    private var i = 0
    private var depth = 0

    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth) throws(Failure) -> JSONValue {
        var reader = JSONReader(bytes: bytes, maxDepth: maxDepth)
        reader.skipSpace()
        let value = try reader.value()
        reader.skipSpace()
        guard reader.i == bytes.count else { throw reader.failure(.trailingData) }
        return value
    }

    public static func parse<Bytes: ContiguousBytes>(_ data: Bytes, maxDepth: Int = defaultMaxDepth) throws(Failure) -> JSONValue {
        let result = data.withUnsafeBytes { bytes in Result { () throws(Failure) in try parse(bytes, maxDepth: maxDepth) } }
        return try result.get()
    }

    private init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func failure(_ reason: Failure.Reason) -> Failure { Failure(reason: reason, offset: i) }

    private func unexpected() -> Failure {
        i < bytes.count ? failure(.unexpectedByte(bytes[i])) : failure(.unexpectedEnd)
    }

    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    private mutating func literal(_ text: StaticString, _ value: JSONValue) throws(Failure) -> JSONValue {
        let n = text.utf8CodeUnitCount
        let p = text.utf8Start
        for k in 0..<n {
            guard i < bytes.count, bytes[i] == p[k] else { throw unexpected() }
            i += 1
        }
        return value
    }

    private mutating func value() throws(Failure) -> JSONValue {
        guard i < bytes.count else { throw failure(.unexpectedEnd) }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return try number()
        }
    }

    private mutating func enterContainer() throws(Failure) {
        depth += 1
        guard depth <= maxDepth else { throw failure(.tooDeep(limit: maxDepth)) }
        i += 1
    }

    private mutating func object() throws(Failure) -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var members: [String: JSONValue] = [:]
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw unexpected() }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw unexpected() }
            i += 1
            skipSpace()
            members[key] = try value()  // a repeated key: the last value wins
            skipSpace()
            guard i < bytes.count else { throw failure(.unexpectedEnd) }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw unexpected()
        }
    }

    private mutating func array() throws(Failure) -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
            i += 1
            return .array(items)
        }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            guard i < bytes.count else { throw failure(.unexpectedEnd) }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw unexpected()
        }
    }

    /// Plain strings (no escapes) are taken as they are; escapes are decoded; bad UTF-8 is refused.
    private mutating func string() throws(Failure) -> String {
        i += 1
        let start = i
        var ascii = true
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                i += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else { throw failure(.invalidUTF8) }
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw failure(.controlCharacterInString) }
            if b >= 0x80 { ascii = false }
            i += 1
        }
        // With escapes: collect UTF-8 bytes, decoding \uXXXX (surrogate pairs must be whole).
        var out: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw failure(.invalidUTF8) }
                return s
            }
            if b < 0x20 { throw failure(.controlCharacterInString) }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                i += 1
                continue
            }
            i += 1
            guard i < bytes.count else { throw failure(.unexpectedEnd) }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw failure(.invalidUnicodeEscape)
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure(.invalidUnicodeEscape) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw failure(.invalidUnicodeEscape)
                }
                guard let u = Unicode.Scalar(scalar) else { throw failure(.invalidUnicodeEscape) }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                i -= 1
                throw failure(.invalidEscape)
            }
        }
        throw failure(.unexpectedEnd)
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < bytes.count else { throw failure(.unexpectedEnd) }
            let c = bytes[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw failure(.invalidUnicodeEscape)
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    private func isDigit(_ k: Int) -> Bool { k < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[k]) }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; plain integers up to 15 digits are exact, the rest go
    /// through Double's own (correctly rounded) parser.
    private mutating func number() throws(Failure) -> JSONValue {
        let start = i
        var negative = false
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard isDigit(i) else { throw unexpected() }
        var integer: Int64 = 0
        var digits = 0
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            digits = 1
        } else {
            while isDigit(i) {
                if digits < 18 { integer = integer * 10 + Int64(bytes[i] - UInt8(ascii: "0")) }
                digits += 1
                i += 1
            }
        }
        var plain = true
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            plain = false
            i += 1
            guard isDigit(i) else { throw unexpected() }
            while isDigit(i) { i += 1 }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            plain = false
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            guard isDigit(i) else { throw unexpected() }
            while isDigit(i) { i += 1 }
        }
        if plain && digits <= 15 {
            if negative && integer == 0 { return .number(-0.0) }
            return .number(Double(negative ? -integer : integer))
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            i = start
            throw failure(.numberOutOfRange)
        }
        return .number(d)
    }
}
