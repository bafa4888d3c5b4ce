import DMDeskCore
import Foundation
import Testing

/// The direct JSON path must produce exactly what Foundation's encoder produces: consoles and scripts parse both.
@Suite("Direct JSON equals JSONEncoder.compact")
struct JSONFastPathTests {
    static let message = MessageView(
        id: "m1", thread: "t1", mid: "m1", direction: .inbound, author: .customer, text: "héllo \"q\" \\ \n\t\u{1B}[2J 👨‍👩‍👧 /",
        attachments: [Attachment(type: "image", url: "https://x/y?a=1&b=2"), Attachment(type: "file", url: nil)],
        timestamp: 1_732_190_000_123, delivery: .failed, error: "outside the window", reactions: ["love"],
        replyToStory: "https://s", deleted: false, edited: true, outboundId: 42)
    static let thread = ThreadSummary(
        id: "t1", username: "ana", name: nil, mode: .human, status: .open, unread: 3, awaitingOperator: true,
        lastText: "last ✨", lastAt: 1_732_190_000_000, lastInboundAt: nil, connected: false)

    @Test("MessageView and ThreadSummary: same JSON either way")
    func views() throws {
        #expect(JSONValue(Self.message) == JSONValue.from(Self.message))
        #expect(JSONValue(Self.thread) == JSONValue.from(Self.thread))
        #expect(JSONValue(Self.message).compactString == JSONValue.from(Self.message).encodedString())
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
