// libFuzzer target: a webhook body as the listener gets it.
//
// 1. `WebhookParser.parse(bytes:)`, the listener's entry point (FastJSONReader, falling back to JSONDecoder), and
//    every conversion a parsed event goes through on its way to SQLite, the journal, the socket and the screen:
//    every field of every event kind is read, the journal/socket JSON is written, the thread row the event makes is
//    summarised and formatted. A trapping conversion (Int64(Double), Int(Double), overflowing arithmetic) kills the
//    process, which is what libFuzzer reports as a crash.
// 2. A differential check: wherever FastJSONReader accepts a body, its JSONValue must be the one JSONDecoder
//    (`JSONValue.parse(Data)`) yields, compared strictly (strings and keys by their UTF-8 bytes, not by Swift's
//    canonical equivalence). And the journal's direct JSON writer (`compactString`) must write the bytes
//    `JSONEncoder.compact` writes, as JSONFastPath.swift promises.
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
    case .unknown(let name):
        consume(name)
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
    guard let fast = try? FastJSONReader.parse(bytes) else { return }  // refused: the fallback decides alone
    let slow: JSONValue
    do {
        slow = try JSONValue.parse(Data(bytes))
    } catch {
        finding("fast-reader-accepts-more", "FastJSONReader accepted a body JSONDecoder refuses (\(error))")
    }
    if let difference = firstDifference(fast, slow, at: "$") {
        finding("readers-differ", "FastJSONReader and JSONDecoder read different values at \(difference)")
    }
}

/// `compactString` (journal payloads, socket lines) must be byte-for-byte what `JSONEncoder.compact` writes.
private func checkWritersAgree(_ value: JSONValue, what: String) {
    let direct = value.compactString
    let encoder = value.encodedString()
    if !direct.utf8.elementsEqual(encoder.utf8) {
        finding("writers-differ", "\(what): compactString wrote \(clip(direct)) but JSONEncoder.compact wrote \(clip(encoder))")
    }
}

/// The path of the first place two values differ, or nil. Strings and object keys are compared by their UTF-8
/// bytes: Swift's `==` treats canonically equivalent strings ("é" and "e\u{301}") as equal, the database does not.
/// Numbers are compared with `==` (±0 are the same value to every consumer; neither reader yields NaN).
private func firstDifference(_ a: JSONValue, _ b: JSONValue, at path: String) -> String? {
    switch (a, b) {
    case (.null, .null): return nil
    case (.bool(let x), .bool(let y)): return x == y ? nil : "\(path): \(x) vs \(y)"
    case (.number(let x), .number(let y)): return x == y ? nil : "\(path): \(x) vs \(y)"
    case (.string(let x), .string(let y)):
        return x.utf8.elementsEqual(y.utf8) ? nil : "\(path): \(clip(x.debugDescription)) vs \(clip(y.debugDescription))"
    case (.array(let x), .array(let y)):
        guard x.count == y.count else { return "\(path): \(x.count) items vs \(y.count)" }
        for (i, (p, q)) in zip(x, y).enumerated() {
            if let d = firstDifference(p, q, at: "\(path)[\(i)]") { return d }
        }
        return nil
    case (.object(let x), .object(let y)):
        let xKeys = x.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        let yKeys = y.keys.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        guard xKeys == yKeys else {
            return "\(path): keys \(clip(x.keys.sorted().debugDescription)) vs \(clip(y.keys.sorted().debugDescription))"
        }
        for key in x.keys.sorted() {
            if let d = firstDifference(x[key]!, y[key]!, at: "\(path).\(key.debugDescription)") { return d }
        }
        return nil
    default:
        return "\(path): \(clip(a.compactString)) vs \(clip(b.compactString))"
    }
}

private func clip(_ s: String) -> String { s.count <= 200 ? s : String(s.prefix(200)) + "…" }

/// Reports a broken property and traps. `tag` names the property (scripts/fuzz groups findings by it).
private func finding(_ tag: String, _ what: String) -> Never {
    fatalError("FINDING[\(tag)]: \(what)")
}
