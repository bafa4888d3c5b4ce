import DMDeskCore
import DMDeskTesting
import Foundation
import Testing

/// `JSONReader` is the one JSON reader of the daemon. These tests hold it to JSONDecoder on everything both accept,
/// and to its own documented rules where they differ.
@Suite("JSONReader against JSONDecoder")
struct JSONReaderTests {
    static func decoder(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    static func reader(_ bytes: [UInt8], maxDepth: Int = JSONReader.defaultMaxDepth) -> Result<JSONValue, JSONReader.Failure> {
        Result { () throws(JSONReader.Failure) in try JSONReader.parse(bytes, maxDepth: maxDepth) }
    }

    @Test("every webhook fixture reads exactly as JSONDecoder reads it")
    func fixtures() throws {
        for fixture in try WebhookFixture.all() {
            let bytes = Array(fixture.body)
            #expect(try Self.reader(bytes).get() == Self.decoder(bytes), "\(fixture.name)")
        }
    }

    @Test("a generated corpus (escapes, surrogate pairs, big and tiny numbers, nesting) reads as JSONDecoder reads it")
    func generatedCorpus() throws {
        var rng = SplitMix64(seed: 0x5EED_14)
        for round in 0..<3000 {
            let value = Generator.value(&rng, depth: Int.random(in: 0...12, using: &rng))
            let text = Generator.write(value, &rng)
            let bytes = Array(text.utf8)
            let expected = try #require(Self.decoder(bytes), "JSONDecoder refused generated document \(round): \(text)")
            let got = Self.reader(bytes)
            #expect(try got.get() == expected, "document \(round): \(text)")
        }
    }

    @Test("mutated documents: whatever JSONDecoder refuses the reader refuses; whatever both take is the same value")
    func mutatedCorpus() throws {
        var rng = SplitMix64(seed: 0xB17F_11B5)
        var bothTook = 0
        for _ in 0..<4000 {
            var bytes = Array(Generator.write(Generator.value(&rng, depth: 4), &rng).utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = Generator.interesting.randomElement(using: &rng)!
                case 1: bytes.remove(at: at)
                default: bytes.insert(Generator.interesting.randomElement(using: &rng)!, at: at)
                }
            }
            let expected = Self.decoder(bytes)
            switch Self.reader(bytes) {
            case .success(let value):
                if let expected {
                    bothTook += 1
                    #expect(value == expected || Generator.hasRepeatedKey(bytes), "\(String(decoding: bytes, as: UTF8.self))")
                } else {
                    // Only the documented difference: a number too small for a Double reads as 0 here.
                    #expect(Generator.hasUnderflow(bytes), "reader took what JSONDecoder refused: \(String(decoding: bytes, as: UTF8.self))")
                }
            case .failure:
                if expected != nil {
                    // Only the documented leniencies of JSONDecoder: a trailing comma, a byte-order mark, guessing
                    // UTF-16 or UTF-32 from NUL bytes at the start.
                    #expect(Generator.hasTrailingComma(bytes) || Generator.looksLikeUTF16or32(bytes), "reader refused what JSONDecoder took: \(String(decoding: bytes, as: UTF8.self))")
                }
            }
        }
        #expect(bothTook > 100, "the mutations left enough valid documents to compare")
    }

    @Test("documented rules: last repeated key wins, no trailing comma or BOM, underflow is 0, overflow is refused")
    func documentedRules() throws {
        func read(_ text: String) -> JSONValue? { try? JSONReader.parse(Array(text.utf8)) }
        #expect(read(#"{"a":1,"a":2}"#) == ["a": 2])
        #expect(read(#"{"a":{"b":1},"a":[3]}"#) == ["a": [3]])
        #expect(read("[1,]") == nil && read(#"{"a":1,}"#) == nil)
        #expect(read("\u{FEFF}[1]") == nil)
        #expect(read("[1e-400]") == [0])
        #expect(read("[1e400]") == nil && read("[-1e400]") == nil)
        #expect(read("[\"a\tb\"]") == nil, "raw control characters are refused, as JSONDecoder does")
        #expect(read(#"["\u0000x"]"#) == ["\u{0}x"], "an escaped NUL is kept: it is the caller's to handle")
        #expect(read(#"["\ud83d\ude00"]"#) == ["😀"])
        #expect(read(#"["\ud83dx"]"#) == nil && read(#"["\ude00"]"#) == nil)
        #expect(read("[9007199254740993]") == [9007199254740992], "big integers round as JSONDecoder rounds them")
    }

    @Test("depth: up to the limit is read, one more level is refused with the limit in the message, in linear time")
    func depth() throws {
        func nested(_ n: Int) -> [UInt8] { Array((String(repeating: "[", count: n) + String(repeating: "]", count: n)).utf8) }
        #expect(try Self.reader(nested(64), maxDepth: 64).get() != .null)
        guard case .failure(let failure) = Self.reader(nested(65), maxDepth: 64) else {
            Issue.record("65 levels were read")
            return
        }
        #expect(failure.reason == .tooDeep(limit: 64))
        #expect(failure.offset == 64)
        #expect(failure.description == "nested deeper than 64 levels at byte 64")
        // A million levels is refused at the limit, without reading further (and without exhausting the stack).
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse(nested(1_000_000), maxDepth: 64) }
        let objects = Array((String(repeating: #"{"a":"#, count: 300) + "1" + String(repeating: "}", count: 300)).utf8)
        #expect(throws: JSONReader.Failure(reason: .tooDeep(limit: 256), offset: 1280)) { try JSONReader.parse(objects) }
    }

    @Test("errors say what and where")
    func errors() {
        func failure(_ text: String) -> String {
            do {
                _ = try JSONReader.parse(Array(text.utf8))
                return "accepted"
            } catch { return error.description }
        }
        #expect(failure("") == "unexpected end of input at byte 0")
        #expect(failure(#"{"a" 1}"#) == "unexpected '1' at byte 5")
        #expect(failure("[1] x") == "unexpected data after the JSON value at byte 4")
        #expect(failure(#"["\x"]"#) == "invalid escape in a string at byte 3")
        #expect(failure("[1e999]") == "number out of range at byte 1")
        #expect(failure("[\"\u{1}\"]") == "unescaped control character in a string at byte 2")
        #expect(failure("[tru]") == "unexpected ']' at byte 4")
    }

    @Test("checked conversions never trap, whatever the number")
    func checkedConversions() {
        let hostile: [JSONValue] = [
            .number(1e19), .number(9.3e18), .number(1e300), .number(-1e300), .number(.nan), .number(.infinity),
            .number(-.infinity), "1e300", "0x1p70", "nan", "inf", "-inf", .number(9_223_372_036_854_775_807),
            .number(9_223_372_036_854_775_808.0), "123456789012345678901234567890",
        ]
        for value in hostile {
            #expect(value.int64Value == nil || value.int64Value! < Int64.max, "\(value)")
            #expect(value.integer(in: 0...1000) == nil, "\(value)")
            #expect(value.doubleValue?.isFinite ?? true, "\(value)")
            #expect(WebhookParser.normalizeTimestamp(value, now: nowMillis()) == nil, "\(value)")
            _ = value.idString
        }
        #expect(JSONValue.number(2.9).integer(in: 0...5) == 2)
        #expect(JSONValue.string("42").integer() == 42)
        #expect(JSONValue.number(1e15).idString == "1000000000000000")
        #expect(JSONValue.number(1e19).idString == nil && JSONValue.number(1.5).idString == nil)
    }
}

/// Random JSON documents written with random spacing and escapes, and the checks for the reader's documented
/// differences from JSONDecoder.
enum Generator {
    static let interesting: [UInt8] = Array(#"{}[]",:\"0123456789eE.-+ tfnu\u0000"#.utf8) + [0x00, 0x09, 0x0A, 0x80, 0xC3, 0xFF]
    static let numberSpellings = [
        "0", "-0", "1", "-1", "123456789012345", "1234567890123456789", "9007199254740993", "1.5", "-0.25", "1e10", "1E+2",
        "2.5e-3", "1e308", "1e-320", "123456789012345678901234567890", "0.1", "17841400008460056",
    ]

    static func value(_ rng: inout SplitMix64, depth: Int) -> JSONValue {
        let pick = depth <= 0 ? Int.random(in: 0..<4, using: &rng) : Int.random(in: 0..<6, using: &rng)
        switch pick {
        case 0: return [.null, .bool(true), .bool(false)].randomElement(using: &rng)!
        case 1: return .number(Double(numberSpellings.randomElement(using: &rng)!)!)
        case 2, 3: return .string(string(&rng))
        case 4:
            return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in value(&rng, depth: depth - 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &rng) { members[string(&rng)] = value(&rng, depth: depth - 1) }
            return .object(members)
        }
    }

    static func string(_ rng: inout SplitMix64) -> String {
        let pieces = ["a", "mid", "é", "你好", "👋🏽", "👨‍👩‍👧", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{7F}", "\u{0}", " ", "\u{FFFD}", "\u{2028}", "𝄞"]
        return (0..<Int.random(in: 0...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
    }

    /// Writes `value` as JSON, with random spacing and a random choice of escapes for each character.
    static func write(_ value: JSONValue, _ rng: inout SplitMix64) -> String {
        let space = { (rng: inout SplitMix64) -> String in [" ", "", "", "\n", "\t", "\r\n "].randomElement(using: &rng)! }
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            // Spelled as one of the generator's own spellings of this number when there is one.
            return numberSpellings.filter { Double($0) == n }.randomElement(using: &rng) ?? "\(n)"
        case .string(let s): return quote(s, &rng)
        case .array(let items):
            return "[" + space(&rng) + items.map { write($0, &rng) }.joined(separator: "," + space(&rng)) + space(&rng) + "]"
        case .object(let members):
            return "{" + space(&rng)
                + members.map { quote($0.key, &rng) + space(&rng) + ":" + space(&rng) + write($0.value, &rng) }
                    .joined(separator: "," + space(&rng)) + space(&rng) + "}"
        }
    }

    static func quote(_ s: String, _ rng: inout SplitMix64) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            let mustEscape = scalar.value < 0x20 || scalar == "\"" || scalar == "\\"
            if mustEscape || Int.random(in: 0..<4, using: &rng) == 0 {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += Bool.random(using: &rng) ? "\\n" : "\\u000a"
                case "/": out += "\\/"
                default:
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        out += String(format: "\\u%04x\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                    } else {
                        out += String(format: Bool.random(using: &rng) ? "\\u%04x" : "\\u%04X", scalar.value)
                    }
                }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes.filter { ![0x20, 0x09, 0x0D, 0x0A].contains($0) }, as: UTF8.self)
        return text.contains(",]") || text.contains(",}") || bytes.starts(with: [0xEF, 0xBB, 0xBF])
    }

    static func hasUnderflow(_ bytes: [UInt8]) -> Bool {
        String(decoding: bytes, as: UTF8.self).range(of: #"[eE]-[0-9]{3,}"#, options: .regularExpression) != nil
    }

    static func looksLikeUTF16or32(_ bytes: [UInt8]) -> Bool {
        bytes.prefix(4).contains(0) || bytes.suffix(4).contains(0)
    }

    static func hasRepeatedKey(_ bytes: [UInt8]) -> Bool {
        // Reading with the first value kept (JSONDecoder's rule) would give the other answer: detect repeats directly.
        guard let value = try? JSONReader.parse(bytes) else { return false }
        return String(decoding: bytes, as: UTF8.self).components(separatedBy: "\":").count - 1 > countMembers(value)
    }

    private static func countMembers(_ value: JSONValue) -> Int {
        switch value {
        case .object(let m): return m.count + m.values.map(countMembers).reduce(0, +)
        case .array(let a): return a.map(countMembers).reduce(0, +)
        default: return 0
        }
    }
}
