import Foundation

/// A JSON document of any shape. Webhook payloads vary by event kind and unknown kinds are kept raw,
/// so parsing walks this tree instead of decoding into fixed structs.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A finite number, or a string holding one (the App Dashboard sends some numbers as strings); never NaN or ±inf.
    public var doubleValue: Double? {
        let d: Double?
        switch self {
        case .number(let n): d = n
        case .string(let s): d = Double(s)
        default: d = nil
        }
        guard let d, d.isFinite else { return nil }
        return d
    }

    /// The integer part of `doubleValue` when it lies in `range`, else nil. Untrusted numbers (1e300, 2^63, "nan")
    /// go through this instead of `Int64(_:)`, which traps outside its range.
    public func integer(in range: ClosedRange<Int64> = Int64.min...Int64.max) -> Int64? {
        guard let d = doubleValue?.rounded(.towardZero), let n = Int64(exactly: d), range.contains(n) else { return nil }
        return n
    }

    public var int64Value: Int64? { integer() }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// Ids arrive as strings from Meta but as numbers from some test tools; accept both.
    public var idString: String? {
        switch self {
        case .string(let s): return s
        case .number(let n): return Int64(exactly: n).map { String($0) }
        default: return nil
        }
    }

    /// Reads JSON with `JSONReader` (its rules: last duplicate key wins, depth limit, strict grammar).
    public static func parse(_ data: Data, maxDepth: Int = JSONReader.defaultMaxDepth) throws(JSONReader.Failure) -> JSONValue {
        try JSONReader.parse(data, maxDepth: maxDepth)
    }

    public static func parse<Bytes: Sequence>(bytes: Bytes) throws(JSONReader.Failure) -> JSONValue where Bytes.Element == UInt8 {
        try JSONReader.parse(Array(bytes))
    }

    /// Compact, key-sorted JSON (see JSONFastPath.swift for the one set of writing rules).
    public func encoded() -> Data { Data(compactBytes) }

    public func encodedString() -> String { compactString }
}

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n):
            if n.rounded() == n && abs(n) < 9.0e15 { try container.encode(Int64(n)) } else { try container.encode(n) }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONEncoder {
    /// Sorted keys keep journal rows and socket lines stable, which makes them diffable and testable.
    public static var compact: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
