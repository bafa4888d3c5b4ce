import Foundation

/// A strict JSON reader straight into `JSONValue`, for webhook bodies. It yields exactly what
/// `JSONValue.parse` (JSONDecoder) yields for the same bytes; on anything it does not accept (including
/// input JSONDecoder might read differently) it throws and the caller falls back to `JSONValue.parse`.
public struct FastJSONReader {
    public struct Unsupported: Error {}
    private let bytes: UnsafeRawBufferPointer
    private var i = 0
    private var depth = 0

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(Unsupported) -> JSONValue {
        var reader = FastJSONReader(bytes: bytes)
        reader.skipSpace()
        let value = try reader.value()
        reader.skipSpace()
        guard reader.i == bytes.count else { throw Unsupported() }
        return value
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    private mutating func literal(_ text: StaticString, _ value: JSONValue) throws(Unsupported) -> JSONValue {
        let n = text.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw Unsupported() }
        let p = text.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { throw Unsupported() }
        i += n
        return value
    }

    private mutating func value() throws(Unsupported) -> JSONValue {
        guard i < bytes.count else { throw Unsupported() }
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

    private mutating func object() throws(Unsupported) -> JSONValue {
        depth += 1
        guard depth < 256 else { throw Unsupported() }
        defer { depth -= 1 }
        i += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw Unsupported() }
            let key = try string()
            // A repeated key: leave it to JSONDecoder's own rules.
            guard members[key] == nil else { throw Unsupported() }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw Unsupported() }
            i += 1
            skipSpace()
            members[key] = try value()
            skipSpace()
            guard i < bytes.count else { throw Unsupported() }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw Unsupported()
        }
    }

    private mutating func array() throws(Unsupported) -> JSONValue {
        depth += 1
        guard depth < 256 else { throw Unsupported() }
        defer { depth -= 1 }
        i += 1
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
            guard i < bytes.count else { throw Unsupported() }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw Unsupported()
        }
    }

    /// Plain strings (no escapes) are taken as they are; escapes are decoded; bad UTF-8 is refused.
    private mutating func string() throws(Unsupported) -> String {
        i += 1
        let start = i
        var ascii = true
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                i += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else { throw Unsupported() }
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw Unsupported() }
            if b >= 0x80 { ascii = false }
            i += 1
        }
        // With escapes: collect UTF-8 bytes, decoding \uXXXX (surrogate pairs must be whole).
        var out: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw Unsupported() }
                return s
            }
            if b < 0x20 { throw Unsupported() }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                i += 1
                continue
            }
            i += 1
            guard i < bytes.count else { throw Unsupported() }
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
                        throw Unsupported()
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw Unsupported() }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw Unsupported()
                }
                guard let u = Unicode.Scalar(scalar) else { throw Unsupported() }
                out.append(contentsOf: UTF8.encode(u)!)
            default: throw Unsupported()
            }
        }
        throw Unsupported()
    }

    private mutating func hex4() throws(Unsupported) -> UInt32 {
        guard i + 4 <= bytes.count else { throw Unsupported() }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw Unsupported()
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; plain integers up to 15 digits are exact, the rest go
    /// through Double's own (correctly rounded) parser.
    private mutating func number() throws(Unsupported) -> JSONValue {
        let start = i
        var negative = false
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { throw Unsupported() }
        var integer: Int64 = 0
        var digits = 0
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            digits = 1
        } else {
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
                if digits < 18 { integer = integer * 10 + Int64(bytes[i] - UInt8(ascii: "0")) }
                digits += 1
                i += 1
            }
        }
        var plain = true
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            plain = false
            i += 1
            let f = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            guard i > f else { throw Unsupported() }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            plain = false
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            let f = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
            guard i > f else { throw Unsupported() }
        }
        if plain && digits <= 15 {
            if negative && integer == 0 { return .number(-0.0) }
            return .number(Double(negative ? -integer : integer))
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw Unsupported() }
        return .number(d)
    }
}
