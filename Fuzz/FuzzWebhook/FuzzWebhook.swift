// libFuzzer target: a webhook body as the listener gets it.
//
// 1. `WebhookParser.parse(bytes:)`, the listener's entry point, and every conversion a parsed event goes through on
//    its way to SQLite, the journal, the socket and the screen: every field of every event kind is read, the
//    journal/socket JSON is written, the thread row the event makes is summarised and formatted. A trapping
//    conversion (Int64(Double), Int(Double), overflowing arithmetic) kills the process, which is what libFuzzer
//    reports as a crash.
// 2. A differential check: wherever `JSONReader` and Foundation's JSONDecoder both read a body, they must read the
//    same value, compared strictly (strings and keys by their UTF-8 bytes, not by Swift's canonical equivalence),
//    but for the differences JSONReader documents (a repeated key: the last wins). Where JSONReader reads a body
//    JSONDecoder refuses, that is a finding too, unless it holds a number JSONReader documents reading differently
//    (one that underflows to 0) or one JSONDecoder cannot read although it is valid JSON (`0e1`). And the journal's
//    direct JSON writer (`compactString`) must write the bytes `JSONEncoder.compact` writes, as JSONFastPath.swift
//    promises.
// A broken property is reported with `finding(_:_:)`: it prints what differed and traps, so libFuzzer keeps the input.
import DMDeskConsole
import DMDeskCore
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebhook(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    checkReadersAgree(bytes)
    guard let delivery = try? WebhookParser.parse(bytes: bytes) else { return 0 }
    consume(delivery.object ?? "")
    let now = nowMillis()
    for event in delivery.events { readEveryField(of: event, now: now) }
    return 0
}

// MARK: - 1. every field, every conversion

/// Keeps the optimiser from dropping reads whose result is otherwise unused.
nonisolated(unsafe) private var sink = 0
@inline(never) private func consume<T: Hashable>(_ value: T) { sink &+= value.hashValue }

private func readEveryField(of event: WebhookEvent, now: EpochMillis) {
    consume(event.accountId)
    consume(event.senderId)
    consume(event.recipientId)
    consume(event.timestamp)
    consume(event.source.rawValue)
    consume(event.customerId)
    // The raw event is journalled (unknown kinds, orphans, invalid events) with the direct writer.
    checkWritersAgree(event.raw, what: "event.raw")

    var text: String? = nil
    var attachments: [Attachment] = []
    switch event.kind {
    case .message(let m):
        consume(m.mid)
        consume(m.text)
        for a in m.attachments {
            consume(a.type)
            consume(a.url)
        }
        consume(m.replyToMid)
        consume(m.replyToStoryURL)
        consume(m.replyToStoryId)
        consume(m.quickReplyPayload)
        consume(m.isEcho)
        consume(m.isDeleted)
        consume(m.isUnsupported)
        text = m.text
        attachments = m.attachments
        // Ingest stores the attachment list as JSON and journals the new row as a MessageView.
        if !m.attachments.isEmpty, let encoded = try? JSONEncoder.compact.encode(m.attachments) { consume(encoded) }
        let view = MessageView(
            id: m.mid, thread: event.customerId, mid: m.mid, direction: m.isEcho ? .outbound : .inbound,
            author: m.isEcho ? .operator : .customer, text: m.text, attachments: m.attachments,
            timestamp: event.timestamp, replyToStory: m.replyToStoryURL ?? m.replyToStoryId)
        checkWritersAgree(JSONValue(view), what: "MessageView")
    case .reaction(let r):
        consume(r.mid)
        consume(r.action)
        consume(r.reaction)
        consume(r.emoji)
    case .read(let mid, let watermark):
        consume(mid)
        consume(watermark)
        if let watermark {
            // The read journal entry carries the watermark as a JSON number.
            checkWritersAgree(["mid": mid.map { .string($0) } ?? .null, "watermark": .number(Double(watermark))],
                              what: "read event")
        }
    case .postback(let p):
        consume(p.mid)
        consume(p.title)
        consume(p.payload)
        text = p.title
    case .edit(let e):
        consume(e.mid)
        consume(e.text)
        consume(e.editCount)
        text = e.text
    case .comment(let c):
        // Comments are stored and shown like messages: their text reaches the sanitiser and the journal.
        consume(c.id)
        consume(c.text)
        consume(c.fromId)
        consume(c.fromUsername)
        consume(c.mediaId)
        consume(c.mediaProductType)
        consume(c.parentId)
        text = c.text
    case .unknown(let name):
        consume(name)
    case .invalid(let reason):
        consume(reason)
    }

    // The thread row an inbound event makes, as the socket sends it and the console shows it.
    let summary = ThreadSummary(
        id: event.customerId, lastText: text ?? (attachments.isEmpty ? nil : "[attachment]"), lastAt: event.timestamp,
        lastInboundAt: event.timestamp)
    consume(summary.displayName)
    consume(summary.windowRemaining(now: now))
    checkWritersAgree(JSONValue(summary), what: "ThreadSummary")
    consume(TimeFormat.window(summary, now: now))
    consume(TimeFormat.relative(event.timestamp, now: now))
    consume(TimeFormat.clock(event.timestamp))
    consume(TimeFormat.day(event.timestamp).label)
}

// MARK: - 2. differential checks

private func checkReadersAgree(_ bytes: UnsafeRawBufferPointer) {
    guard let ours = try? JSONReader.parse(bytes) else { return }  // refused: nothing to compare
    let body = Array(bytes)
    let foundation: JSONValue
    do {
        foundation = try JSONDecoder().decode(JSONValue.self, from: Data(body))
    } catch {
        if holdsNumberJSONDecoderCannotRead(body) { return }
        finding("reader-accepts-what-jsondecoder-refuses", "JSONReader read a body JSONDecoder refuses (\(error))")
    }
    if let difference = firstDifference(ours, foundation, at: "$", body: body) {
        finding("readers-differ", "JSONReader and JSONDecoder read different values at \(difference)")
    }
}

/// A number token that underflows to 0 (JSONReader: 0, as documented; JSONDecoder: an error), or a zero with an
/// unsigned exponent (`0e1`: valid JSON, which JSONDecoder refuses). Found by a plain scan of the bytes, strings
/// included, which only makes the check skip a few more bodies.
private func holdsNumberJSONDecoderCannotRead(_ body: [UInt8]) -> Bool {
    let text = String(decoding: body, as: UTF8.self)
    var i = text.startIndex
    while let e = text[i...].firstIndex(where: { $0 == "e" || $0 == "E" }) {
        var start = e
        while start > text.startIndex, let c = text[text.index(before: start)].asciiValue,
              (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") {
            start = text.index(before: start)
        }
        var end = text.index(after: e)
        if end < text.endIndex, text[end] == "+" || text[end] == "-" { end = text.index(after: end) }
        while end < text.endIndex, let c = text[end].asciiValue, c >= 0x30 && c <= 0x39 { end = text.index(after: end) }
        let token = text[start..<end]
        let mantissa = token[..<token.index(token.startIndex, offsetBy: text.distance(from: start, to: e))]
        if let value = Double(token), value == 0 {
            if mantissa.contains(where: { $0 >= "1" && $0 <= "9" }) { return true }  // underflow
            let exponent = text[text.index(after: e)...].first
            if exponent != "+" && exponent != "-" { return true }  // 0e1
        }
        i = end > e ? end : text.index(after: e)
    }
    return false
}

/// `compactString` (journal payloads, socket lines) must be byte-for-byte what `JSONEncoder.compact` writes.
private func checkWritersAgree(_ value: JSONValue, what: String) {
    let direct = value.compactString
    // Foundation's encoder itself (`encodedString()` is the direct writer now).
    let encoder = (try? JSONEncoder.compact.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "(encoder failed)"
    if !direct.utf8.elementsEqual(encoder.utf8) {
        finding("writers-differ", "\(what): compactString wrote \(clip(direct)) but JSONEncoder.compact wrote \(clip(encoder))")
    }
}

/// The path of the first place two values differ, or nil. Strings and object keys are compared by their UTF-8
/// bytes: Swift's `==` treats canonically equivalent strings ("é" and "e\u{301}") as equal, the database does not.
/// Numbers are compared with `==` (±0 are the same value to every consumer; neither reader yields NaN).
private func firstDifference(_ a: JSONValue, _ b: JSONValue, at path: String, body: [UInt8]) -> String? {
    switch (a, b) {
    case (.null, .null): return nil
    case (.bool(let x), .bool(let y)): return x == y ? nil : "\(path): \(x) vs \(y)"
    case (.number(let x), .number(let y)): return x == y ? nil : "\(path): \(x) vs \(y)"
    case (.string(let x), .string(let y)):
        return x.utf8.elementsEqual(y.utf8) ? nil : "\(path): \(clip(x.debugDescription)) vs \(clip(y.debugDescription))"
    case (.array(let x), .array(let y)):
        guard x.count == y.count else { return "\(path): \(x.count) items vs \(y.count)" }
        for (i, (p, q)) in zip(x, y).enumerated() {
            if let d = firstDifference(p, q, at: "\(path)[\(i)]", body: body) { return d }
        }
        return nil
    case (.object(let x), .object(let y)):
        let xKeys = x.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        let yKeys = y.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        guard xKeys == yKeys else {
            return "\(path): keys \(clip(x.keys.sorted().debugDescription)) vs \(clip(y.keys.sorted().debugDescription))"
        }
        for key in x.keys.sorted() {
            if let d = firstDifference(x[key]!, y[key]!, at: "\(path).\(key.debugDescription)", body: body) {
                // JSONReader keeps a repeated key's last value, JSONDecoder its first (documented). A key that may be
                // repeated, in the same or another spelling (escapes, canonically equivalent forms), is skipped.
                if mayRepeat(key, in: body) { continue }
                return d
            }
        }
        return nil
    default:
        return "\(path): \(clip(a.compactString)) vs \(clip(b.compactString))"
    }
}

/// True unless the key is plain ASCII written exactly once, unescaped. (Another spelling of it with escapes would be
/// missed; the finding's message shows the key and both values.)
private func mayRepeat(_ key: String, in body: [UInt8]) -> Bool {
    if key.utf8.contains(where: { $0 >= 0x80 || $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
        return true
    }
    let quoted = Array(("\"" + key + "\"").utf8)
    var count = 0
    var i = 0
    while i + quoted.count <= body.count {
        if body[i..<(i + quoted.count)].elementsEqual(quoted) {
            count += 1
            i += quoted.count
        } else {
            i += 1
        }
    }
    return count != 1
}

private func clip(_ s: String) -> String { s.count <= 200 ? s : String(s.prefix(200)) + "…" }

/// Reports a broken property and traps. `tag` names the property (scripts/fuzz groups findings by it).
private func finding(_ tag: String, _ what: String) -> Never {
    fatalError("FINDING[\(tag)]: \(what)")
}
