import DMDeskCore
import DMDeskTesting
import Foundation
import Testing

/// The direct JSON path must produce exactly what Foundation's encoder produces: consoles and scripts parse both.
@Suite("Direct JSON equals JSONEncoder.compact")
struct JSONFastPathTests {
    static let message = MessageView(
        id: "m1", thread: "t1", mid: "m1", direction: .inbound, author: .customer, text: "héllo \"q\" \\ \n\t\u{1B}[2J 👨‍👩‍👧 /",
        attachments: [Attachment(type: "image", url: "https://x/y?a=1&b=2"), Attachment(type: "file", url: nil, title: "ti\"tle")],
        timestamp: 1_732_190_000_123, delivery: .failed, error: "outside the window", reactions: ["love"],
        replyToStory: "https://s", deleted: false, edited: true, outboundId: 42, kind: .storyReply, replyToMid: "m0",
        replyToText: "earlier ✨", replyToUnsent: false, payload: "ORDER_STATUS")
    static let thread = ThreadSummary(
        id: "t1", username: "ana", name: nil, mode: .human, status: .open, unread: 3, awaitingOperator: true,
        lastText: "last ✨", lastAt: 1_732_190_000_000, lastInboundAt: nil, connected: false)

    @Test("MessageView and ThreadSummary: same JSON either way")
    func views() throws {
        #expect(JSONValue(Self.message) == JSONValue.from(Self.message))
        #expect(JSONValue(Self.thread) == JSONValue.from(Self.thread))
        #expect(JSONValue(Self.message).compactString == JSONValue.from(Self.message).encodedString())
        for hit in [
            SearchHit(
                mid: "m1", thread: "t1", direction: .outbound, author: "operator", timestamp: 1_732_190_000_123, name: "Ana \"A\"",
                username: "ana", snippet: "…the blue ✨ hoodie", highlights: [.init(start: 4, length: 4), .init(start: 12, length: 6)]),
            SearchHit(mid: "m2", thread: "t2", direction: .inbound, author: "customer", timestamp: 1, name: nil, username: nil,
                      snippet: "", highlights: []),
        ] {
            #expect(JSONValue(hit) == JSONValue.from(hit))
        }
    }

    @Test("every kind of server line encodes to the same bytes as JSONEncoder.compact")
    func serverLines() throws {
        let event = JournalEvent(seq: 7, type: EventType.messageReceived, thread: "t1", data: JSONValue(Self.message), at: 99)
        let lines: [ServerLine] = [
            .hello(daemon: "0.1.0", account: nil, listener: "127.0.0.1:8080"),
            .ok(id: 1, result: ["threads": .array([JSONValue(Self.thread)])]),
            .ok(id: "abc", result: ["n": .number(1.5), "neg": -3, "nested": [["x": nil]]]),
            .error(id: nil, ControlError(code: "bad_request", message: "line \"1\" is not JSON")),
            .event(event),
        ]
        for line in lines {
            let fast = line.jsonValue.compactString
            let slow = String(decoding: try JSONEncoder.compact.encode(line), as: UTF8.self)
            #expect(fast == slow)
        }
    }
}

/// The one writer against Foundation's encoder, on generated values: the same bytes, whatever the strings and numbers.
@Suite("JSONValue's writer equals JSONEncoder.compact")
struct JSONWriterTests {
    @Test("generated documents (escapes, controls, emoji, U+2028, big, tiny and negative numbers) write identically")
    func generated() throws {
        var rng = SplitMix64(seed: 0x3A17E)
        for round in 0..<3000 {
            var value = Generator.value(&rng, depth: Int.random(in: 0...8, using: &rng))
            if round % 3 == 0 {
                value = .array((0..<8).map { _ in .number(Double(bitPattern: rng.next())) }.filter { $0.doubleValue != nil })
            }
            let expected = String(decoding: try JSONEncoder.compact.encode(value), as: UTF8.self)
            #expect(value.compactString == expected, "round \(round)")
            #expect(try JSONValue.parse(Data(value.compactString.utf8)) == value, "round \(round): reads back")
        }
    }

    @Test("a string literal alone is what the writer writes inside a document")
    func quoting() throws {
        for text in ["plain", "q\"uote\\", "\u{0}\u{8}\u{C}\u{1F}\u{7F}", "line\nbreak\r\t", "\u{2028}\u{2029}", "👨‍👩‍👧 ä /"] {
            #expect("[" + JSONValue.quote(text) + "]" == JSONValue.array([.string(text)]).compactString)
            #expect(try JSONValue.parse(Data(JSONValue.quote(text).utf8)) == .string(text))
        }
    }
}

@Suite("Fuzz findings, kept fixed")
struct FuzzFindingTests {
    @Test("keys are sorted by code point, as JSONEncoder sorts them, also when they are not in composed form")
    func decomposedKeys() throws {
        let value: JSONValue = ["e\u{301}cho": 1, "écho": 2, "ecmo": 3, "f": 4]
        #expect(value.compactString == String(decoding: try JSONEncoder.compact.encode(value), as: UTF8.self))
    }

    @Test("the 24-hour window never overflows, whatever the timestamps")
    func windowArithmetic() {
        func summary(_ at: EpochMillis?) -> ThreadSummary {
            ThreadSummary(id: "t", username: nil, name: nil, mode: .auto, status: .open, unread: 0, awaitingOperator: false,
                          lastText: nil, lastAt: nil, lastInboundAt: at, connected: false)
        }
        #expect(summary(.max).windowRemaining(now: 0) == .max)
        #expect(summary(.min).windowRemaining(now: 1_732_000_000_000) == nil)
        #expect(summary(9_223_372_036_854_775_000).windowRemaining(now: .min) == .max)
        #expect(summary(1000).windowRemaining(now: 2000) == 86_399_000)
        #expect(summary(nil).windowRemaining(now: 0) == nil)
    }
}
