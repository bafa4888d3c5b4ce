// libFuzzer target: bytes a control-socket client sends.
//
// 1. `ControlLine.decodeRequest` on the whole input as one line, and on every line `LineFramer` cuts from it.
//    Properties: nothing traps; an accepted request has a known type and the line's non-null `id`, and survives
//    `ControlLine.encode` → `decodeRequest` unchanged; a refusal answers to the line's `id` or to null; the error
//    line the server would write is one valid JSON line (exactly one "\n", at the end) that reads back as itself.
// 2. `LineFramer` against a model of what it promises: the same frames whatever the chunking (a checksum of the input
//    picks the chunk size and a second, small line limit), a line over the limit reported once as `tooLong`, a
//    trailing "\r" dropped, empty lines skipped.
// A broken property is reported with `finding(_:_:)`: it prints what differed and traps, so libFuzzer keeps the input.
import DMDeskControl
import DMDeskCore
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlLine(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkDecode(bytes)
    // The same input is also a byte stream from a client; how it is cut into reads and the small line limit
    // follow from its bytes, so a saved input replays exactly.
    let stream = bytes
    let knob = stream.reduce(UInt8(truncatingIfNeeded: stream.count)) { $0 &+ $1 }
    let chunk = 1 + Int(knob % 31)
    for limit in [ControlProtocol.maxLineBytes, 8 + Int(knob >> 3)] {
        let frames = frame(stream, chunk: chunk, limit: limit)
        let expected = modelFrames(stream, limit: limit)
        if frames != expected {
            finding("framer", "LineFramer(max \(limit)) fed in \(chunk)-byte chunks gave \(describe(frames)), expected \(describe(expected))")
        }
        if limit == ControlProtocol.maxLineBytes {
            for case .line(let line) in frames { checkDecode(line) }
        }
    }
    return 0
}

// MARK: - 1. decodeRequest

private func checkDecode(_ line: [UInt8]) {
    let parsedId: JSONValue? = (try? JSONValue.parse(Data(line)))?["id"]
    switch ControlLine.decodeRequest(line) {
    case .success(let request):
        guard ControlRequestType(rawValue: request.type) != nil else {
            finding("unknown-type-accepted", "accepted an unknown request type \(clip(request.type.debugDescription))")
        }
        guard request.id != .null else { finding("null-id-accepted", "accepted a request with a null id") }
        guard let parsedId, parsedId == request.id else {
            finding("id-mismatch", "request id \(clip(request.id.compactString)) is not the line's id \(clip(parsedId?.compactString ?? "none"))")
        }
        let encoded: Data
        do { encoded = try ControlLine.encode(request) } catch { finding("request-encode", "an accepted request does not encode: \(error)") }
        guard encoded.last == 0x0A, encoded.filter({ $0 == 0x0A }).count == 1 else {
            finding("request-not-one-line", "a request encoded to something other than one line: \(clip(String(decoding: encoded, as: UTF8.self)))")
        }
        switch ControlLine.decodeRequest(encoded.dropLast()) {
        case .success(let again) where again == request: break
        case .success(let again):
            finding("round-trip-changed", "round trip changed the request: \(clip("\(request)")) became \(clip("\(again)"))")
        case .failure(let rejection):
            finding("round-trip-refused", "a request's own encoding is refused: \(rejection.error)")
        }
    case .failure(let rejection):
        if rejection.id != .null && rejection.id != parsedId {
            finding("refusal-id", "refusal answers to id \(clip(rejection.id.compactString)), the line's is \(clip(parsedId?.compactString ?? "none"))")
        }
        checkServerLine(.error(id: rejection.id, rejection.error))
    }
}

/// What the server writes: exactly one line, valid JSON, reading back as the value it was written from.
private func checkServerLine(_ line: ServerLine) {
    let data = ControlLine.encode(line)
    guard data.last == 0x0A, data.filter({ $0 == 0x0A }).count == 1 else {
        finding("server-line-not-one-line", "a server line is not one line: \(clip(String(decoding: data, as: UTF8.self)))")
    }
    guard let back = try? JSONValue.parse(data.dropLast()) else {
        finding("server-line-invalid", "a server line is not valid JSON: \(clip(String(decoding: data, as: UTF8.self)))")
    }
    guard back == line.jsonValue else {
        finding("server-line-reads-back-different", "a server line reads back as \(clip(back.compactString)), written from \(clip(line.jsonValue.compactString))")
    }
}

// MARK: - 2. LineFramer

private func frame(_ stream: [UInt8], chunk: Int, limit: Int) -> [LineFramer.Frame] {
    var framer = LineFramer(maxLineBytes: limit)
    var frames: [LineFramer.Frame] = []
    var start = 0
    while start < stream.count {
        let end = min(stream.count, start + chunk)
        frames += framer.push(Array(stream[start..<end]))
        start = end
    }
    return frames
}

/// The framing rules of docs/PROTOCOL.md, on the whole stream at once.
private func modelFrames(_ stream: [UInt8], limit: Int) -> [LineFramer.Frame] {
    var frames: [LineFramer.Frame] = []
    var segments = stream.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    let unfinished = segments.removeLast()  // bytes after the last newline: no line yet
    for segment in segments {
        if segment.count > limit {
            frames.append(.tooLong)
            continue
        }
        var line = segment
        if line.last == 0x0D { line.removeLast() }
        if !line.isEmpty { frames.append(.line(line)) }
    }
    if unfinished.count > limit { frames.append(.tooLong) }  // reported as soon as the limit is passed
    return frames
}

private func describe(_ frames: [LineFramer.Frame]) -> String {
    clip(frames.map { frame -> String in
        switch frame {
        case .tooLong: return "tooLong"
        case .line(let bytes): return "line(\(bytes.count) bytes)"
        }
    }.joined(separator: ", "))
}

private func clip(_ s: String) -> String { s.count <= 200 ? s : String(s.prefix(200)) + "…" }

/// Reports a broken property and traps. `tag` names the property (scripts/fuzz groups findings by it).
private func finding(_ tag: String, _ what: String) -> Never {
    fatalError("FINDING[\(tag)]: \(what)")
}
