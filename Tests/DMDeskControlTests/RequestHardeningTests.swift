import DMDeskControl
import DMDeskCore
import Foundation
import Glibc
import Testing

extension TestClient {
    /// Bytes that arrived and are not read yet (FIONREAD).
    func unreadBytes() -> Int {
        var count: Int32 = 0
        return ioctl(fd, UInt(FIONREAD), &count) == 0 ? Int(count) : -1
    }

    /// The next line, parsed, which must be an error reply: its id and code.
    func readError() throws -> (id: JSONValue, code: String?, message: String) {
        let line = try readJSON()
        #expect(line["type"]?.stringValue == "error", "\(line)")
        return (line["id"] ?? .null, line["error"]?["code"]?.stringValue, line["error"]?["message"]?.stringValue ?? "")
    }
}

@Suite("Malformed request lines over the real socket: a typed error each, never a crash", .serialized, .timeLimit(.minutes(2)))
struct RequestHardeningTests {
    /// Sends `line`, expects one `bad_request` answered to `id` (nil: to JSON null), and that the
    /// connection still answers afterwards.
    func expectRefused(_ line: String, id: JSONValue?, mentioning: String? = nil, on client: TestClient) throws {
        try client.sendLine(line)
        let reply = try client.readError()
        #expect(reply.code == "bad_request", "\(line.prefix(120)): \(reply)")
        if let id { #expect(reply.id == id, "\(line.prefix(120)): \(reply)") }
        if let mentioning { #expect(reply.message.contains(mentioning), "\(line.prefix(120)): \(reply.message)") }
    }

    @Test func deepNestingIsRefusedBeforeAnyParserRecursesIntoIt() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()
        // Objects nested 500 deep (just inside JSONDecoder's own limit of 512) overflowed a reader thread's 1 MiB
        // stack while being decoded: the daemon crashed. Deeper ones fit in a 1 MiB line too.
        for depth in [500, 511, 100_000] {
            let deepObjects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
            try expectRefused(deepObjects, id: .null, mentioning: "nested", on: client)
        }
        let deepArrays = #"{"id":1,"type":"status","x":"# + String(repeating: "[", count: 300_000)
            + String(repeating: "]", count: 300_000) + "}"
        try expectRefused(deepArrays, id: .null, mentioning: "nested", on: client)
        // Brackets inside strings are text, not nesting.
        try client.sendLine(#"{"id":2,"type":"status","note":""# + String(repeating: "[{", count: 1000) + #""}"#)
        #expect(try client.readJSON()["type"]?.stringValue == "ok")
        // The limit itself: 32 levels pass, 33 do not.
        let at32 = #"{"id":3,"type":"status","x":"# + String(repeating: "[", count: 31) + String(repeating: "]", count: 31) + "}"
        #expect(try { try client.sendLine(at32); return try client.readJSON()["type"]?.stringValue }() == "ok")
        let at33 = #"{"id":4,"type":"status","x":"# + String(repeating: "[", count: 32) + String(repeating: "]", count: 32) + "}"
        try expectRefused(at33, id: .null, mentioning: "nested", on: client)
        try client.expectAnswers(id: "alive")
    }

    @Test func numbersThatDoNotFitAreRefusedNotTrappedOnOrRounded() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()
        let bad = ["1e19", "9.3e18", "1e300", "123456789012345678901234567890", "9223372036854775807", "9223372036854775808",
                   "9007199254740992", "-1", "-9223372036854775809", "1.5", "-0.5", "1e-300", #""5""#, "true", "[1]", #"{"n":1}"#]
        var n = 0
        for field in ["since", "limit", "before", "outbound"] {
            for value in bad {
                n += 1
                let line = #"{"id":\#(n),"type":"history","thread":"t1","\#(field)":\#(value)}"#
                try expectRefused(line, id: .number(Double(n)), mentioning: field, on: client)
            }
            // In range: the request reaches the service (the stub does not implement history).
            n += 1
            for value in ["0", "9007199254740991", "1e3", "null"] {
                try client.sendLine(#"{"id":\#(n),"type":"history","thread":"t1","\#(field)":\#(value)}"#)
                let reply = try client.readError()
                #expect(reply.code == "unsupported", "\(field)=\(value): \(reply)")
            }
        }
        // Beyond Double's range the line is not a JSON number we can read at all: refused, never a crash.
        try client.sendLine(#"{"id":"big","type":"history","limit":1e400}"#)
        #expect(try client.readError().code == "bad_request")
        // A huge subscribe since is refused too, and the connection can still subscribe properly.
        try expectRefused(#"{"id":"s","type":"subscribe","since":1e19}"#, id: "s", mentioning: "since", on: client)
        #expect(try client.subscribe(id: 99, since: 0)["type"]?.stringValue == "ok")
    }

    @Test func ids_NULs_duplicateKeysAndInvalidUTF8() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()

        // An id must be a string or a number; anything else cannot be echoed meaningfully.
        for id in ["true", "[1]", #"{"a":1}"#] {
            try expectRefused(#"{"id":\#(id),"type":"status"}"#, id: .null, mentioning: "id", on: client)
        }
        try client.sendLine(#"{"id":1e300,"type":"status"}"#)
        #expect(try client.readJSON()["id"] == .number(1e300), "a large numeric id is echoed as it came")

        // "123\u0000x" would reach SQLite as "123": refused in every string parameter.
        for field in ["thread", "text", "mid", "reaction", "search", "mode", "status"] {
            try expectRefused(#"{"id":"nul-\#(field)","type":"send","\#(field)":"t1\u0000x"}"#,
                              id: .string("nul-\(field)"), mentioning: field, on: client)
        }
        // A raw NUL byte (an unescaped control character) is not JSON.
        try client.sendBytes(Array(#"{"id":7,"type":"send","thread":"t"#.utf8) + [0] + Array(#"1","text":"hi"}"#.utf8) + [0x0A])
        #expect(try client.readError().code == "bad_request")

        // A repeated key is ambiguous for a request that acts: refused, whatever the JSON parser would keep.
        try expectRefused(#"{"id":8,"type":"send","thread":"t1","thread":"missing","text":"hi"}"#, id: 8, mentioning: "thread", on: client)
        try expectRefused(#"{"id":9,"type":"send","thread":"t1","th\u0072ead":"missing","text":"hi"}"#, id: 9, mentioning: "thread", on: client)
        try expectRefused(#"{"id":10,"type":"status","type":"send"}"#, id: 10, mentioning: "type", on: client)
        try client.sendLine(#"{"id":1,"id":2,"type":"status"}"#)
        let twoIds = try client.readError()
        #expect(twoIds.code == "bad_request" && twoIds.message.contains("\"id\""), "\(twoIds)")
        // Repeated keys deeper down, or the same text as a value, are not repeated keys of the request.
        try client.sendLine(#"{"id":11,"type":"status","x":{"id":1,"id":2},"y":"id"}"#)
        #expect(try client.readJSON()["type"]?.stringValue == "ok")

        // Bytes that are not UTF-8, and escapes that are not characters.
        for bytes: [UInt8] in [[0xFF, 0xFE], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            try client.sendBytes(Array(#"{"id":12,"type":"send","thread":"t1","text":""#.utf8) + bytes + Array(#""}"#.utf8) + [0x0A])
            let reply = try client.readError()
            #expect(reply.code == "bad_request" && reply.id == .null && reply.message.contains("UTF-8"), "\(bytes): \(reply)")
        }
        try client.sendLine(#"{"id":13,"type":"send","thread":"t1","text":"\ud800"}"#)
        #expect(try client.readError().code == "bad_request")

        // An unknown type is named in the answer, cut short so the answer cannot be made huge.
        try client.sendLine(#"{"id":14,"type":""# + String(repeating: "x", count: 200_000) + #""}"#)
        let unknown = try client.readError()
        #expect(unknown.code == "unknown_request" && unknown.message.utf8.count < 200, "\(unknown.message.prefix(100))")

        // Valid text with NUL-free unicode still goes through unchanged.
        try client.sendLine(#"{"id":15,"type":"send","thread":"t1","text":"héllo 👨‍👩‍👧 \u00e9"}"#)
        let sent = try client.readJSON()
        #expect(sent["type"]?.stringValue == "ok" && sent["result"]?["text_bytes"]?.int64Value == Int64("héllo 👨‍👩‍👧 é".utf8.count))
    }
}
