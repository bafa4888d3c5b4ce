import Foundation

// The one JSON writer: every JSONValue the daemon writes (journal rows, socket lines, Redis context entries, outbox
// payloads) goes through `write`, with one set of rules, the bytes `JSONEncoder.compact` writes: keys sorted,
// slashes unescaped, control characters as \b \t \n \f \r or \u00xx, other characters (U+2028 included) as they
// are, integral numbers below 9e15 as integers, others as Swift prints a Double. Also: building a JSONValue from a
// view without encoding and re-parsing it.

extension JSONValue {
    /// What `JSONValue.from(view)` returns: the synthesized Codable keys, nil optionals left out.
    public init(_ v: MessageView) {
        var o: [String: JSONValue] = [
            "id": .string(v.id), "thread": .string(v.thread), "direction": .string(v.direction.rawValue),
            "author": .string(v.author.rawValue), "timestamp": .number(Double(v.timestamp)),
            "attachments": .array(v.attachments.map { a in
                var item: [String: JSONValue] = ["type": .string(a.type)]
                if let url = a.url { item["url"] = .string(url) }
                return .object(item)
            }),
            "reactions": .array(v.reactions.map { .string($0) }), "deleted": .bool(v.deleted), "edited": .bool(v.edited),
        ]
        if let mid = v.mid { o["mid"] = .string(mid) }
        if let text = v.text { o["text"] = .string(text) }
        if let delivery = v.delivery { o["delivery"] = .string(delivery.rawValue) }
        if let error = v.error { o["error"] = .string(error) }
        if let story = v.replyToStory { o["replyToStory"] = .string(story) }
        if let id = v.outboundId { o["outboundId"] = .number(Double(id)) }
        self = .object(o)
    }

    /// What `JSONValue.from(summary)` returns.
    public init(_ s: ThreadSummary) {
        var o: [String: JSONValue] = [
            "id": .string(s.id), "mode": .string(s.mode.rawValue), "status": .string(s.status.rawValue),
            "unread": .number(Double(s.unread)), "awaitingOperator": .bool(s.awaitingOperator), "connected": .bool(s.connected),
        ]
        if let username = s.username { o["username"] = .string(username) }
        if let name = s.name { o["name"] = .string(name) }
        if let assignee = s.assignee { o["assignee"] = .string(assignee) }
        if let lastText = s.lastText { o["lastText"] = .string(lastText) }
        if let lastAt = s.lastAt { o["lastAt"] = .number(Double(lastAt)) }
        if let lastInboundAt = s.lastInboundAt { o["lastInboundAt"] = .number(Double(lastInboundAt)) }
        self = .object(o)
    }

    /// Compact, key-sorted JSON text.
    public var compactString: String { String(decoding: compactBytes, as: UTF8.self) }

    public var compactBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        Self.write(self, to: &out)
        return out
    }

    /// `s` as a JSON string literal, quotes included.
    public static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        writeString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func write(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n):
            if n.rounded() == n && abs(n) < 9.0e15 {
                out.append(contentsOf: String(Int64(n)).utf8)
            } else if n.isFinite {
                // What JSONEncoder writes: Swift's shortest round-trip form, without a trailing ".0".
                var text = "\(n)"
                if text.hasSuffix(".0") { text.removeLast(2) }
                out.append(contentsOf: text.utf8)
            } else {
                out.append(contentsOf: "null".utf8)  // JSON has no NaN or infinity; JSONReader never yields them
            }
        case .string(let s): writeString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(members[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension ServerLine {
    /// The same object the synthesized Codable conformance encodes (nil fields left out), built directly.
    public var jsonValue: JSONValue {
        var o: [String: JSONValue] = ["type": .string(type)]
        if let id { o["id"] = id }
        if let p = self.protocol { o["protocol"] = .number(Double(p)) }
        if let daemon { o["daemon"] = .string(daemon) }
        if let account { o["account"] = .string(account) }
        if let listener { o["listener"] = .string(listener) }
        if let result { o["result"] = result }
        if let error { o["error"] = ["code": .string(error.code), "message": .string(error.message)] }
        if let seq { o["seq"] = .number(Double(seq)) }
        if let event { o["event"] = .string(event) }
        if let thread { o["thread"] = .string(thread) }
        if let data { o["data"] = data }
        if let at { o["at"] = .number(Double(at)) }
        return .object(o)
    }
}
