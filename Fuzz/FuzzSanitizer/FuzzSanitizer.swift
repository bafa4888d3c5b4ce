// libFuzzer target: untrusted text (a customer's message or name) on its way to the terminal.
//
// Input: byte 0 picks the mode (bit 0: `Sanitizer.Newlines.space` instead of `.keep`; bit 1: read the rest as
// 3-byte code points, which reaches every Unicode scalar, instead of as UTF-8); byte 1 is a column width.
// Properties:
// 1. `Sanitizer.visible` leaves nothing it promises to remove: C0 controls but "\n" (none at all for `.space`),
//    ESC, DEL, C1 controls, bidi embeddings/overrides/isolates/marks, line and paragraph separators, interlinear
//    annotation controls, and (issue 14) zero-width characters: U+200B, U+2060, U+FEFF always, a ZWJ/ZWNJ unless
//    it joins an emoji sequence (ZWJ) or two letters (ZWNJ). Its output is a fixed point: sanitising again changes
//    nothing.
// 2. TextWidth on the sanitised text: `truncate` stays within the width and is a prefix (plus the ellipsis),
//    `fit`/`fitRight` are exactly the width, `wrap` keeps every line within the width (a single character wider than
//    the width gets a line of its own), keeps every character but the spaces it breaks at, and returns.
// A broken property is reported with `finding(_:_:)`: it prints what differed and traps, so libFuzzer keeps the input.
import DMDeskConsole

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSanitizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newlines: Sanitizer.Newlines = bytes[0] & 1 == 0 ? .keep : .space
    let text = bytes[0] & 2 == 0 ? String(decoding: bytes[2...], as: UTF8.self) : codePoints(bytes[2...])
    let width = Int(bytes[1] % 100)

    let shown = Sanitizer.visible(text, newlines: newlines)
    checkNothingForbidden(shown, newlines: newlines, input: text)
    let again = Sanitizer.visible(shown, newlines: newlines)
    if !again.unicodeScalars.elementsEqual(shown.unicodeScalars) {
        finding("not-a-fixed-point", "sanitising twice changed \(esc(shown)) into \(esc(again))")
    }
    checkWidths(shown, width: width)
    return 0
}

/// Three bytes per code point, taken modulo 0x110000; surrogates (not scalars) are skipped.
private func codePoints(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String {
    var scalars = String.UnicodeScalarView()
    var i = bytes.startIndex
    while i + 2 < bytes.endIndex {
        let v = (UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])) % 0x11_0000
        if let s = Unicode.Scalar(v) { scalars.append(s) }
        i += 3
    }
    return String(scalars)
}

// MARK: - 1. nothing the sanitiser promises to remove

private func checkNothingForbidden(_ shown: String, newlines: Sanitizer.Newlines, input: String) {
    let scalars = Array(shown.unicodeScalars)
    for (i, s) in scalars.enumerated() {
        let v = s.value
        let why: String?
        switch v {
        case 0x0A: why = newlines == .space ? "a newline in one-line text" : nil
        case 0x1B: why = "ESC"
        case 0x00..<0x20: why = "a C0 control"
        case 0x7F: why = "DEL"
        case 0x80..<0xA0: why = "a C1 control"
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: why = "a bidi control"
        case 0x2028, 0x2029: why = newlines == .space ? "a line/paragraph separator in one-line text" : "a line/paragraph separator"
        case 0xFFF9...0xFFFB: why = "an interlinear annotation control"
        case 0x200B, 0x2060, 0xFEFF: why = "a zero-width character"
        case 0x200D:
            let joinsEmoji = i > 0 && i + 1 < scalars.count && isEmojiPart(scalars[i - 1]) && isEmojiPart(scalars[i + 1])
            why = joinsEmoji ? nil : "a zero-width joiner outside an emoji sequence"
        case 0x200C:
            let joinsLetters = i > 0 && i + 1 < scalars.count && scalars[i - 1].properties.isAlphabetic
                && scalars[i + 1].properties.isAlphabetic
            why = joinsLetters ? nil : "a zero-width non-joiner outside a word"
        default: why = nil
        }
        if let why {
            finding("left U+\(hex(v))", "visible() left \(why) (U+\(hex(v))) in \(esc(shown)), from \(esc(input))")
        }
    }
}

/// A scalar that can sit on either side of a ZWJ in an emoji ZWJ sequence (👩‍💻, ❤️‍🔥, 🏃🏽‍♀️, a tag sequence's
/// last tag). Not VS15 (text presentation, ❤︎): UTS #51 has no such element.
private func isEmojiPart(_ s: Unicode.Scalar) -> Bool {
    s.value == 0xFE0F || (0xE0020...0xE007F).contains(s.value) || (s.value > 0x7F && s.properties.isEmoji)
}

// MARK: - 2. widths

private func checkWidths(_ text: String, width: Int) {
    let total = TextWidth.width(text)
    guard total >= 0 else { finding("negative-width", "negative width \(total) for \(esc(text))") }
    var widest = 0
    for ch in text { widest = max(widest, TextWidth.width(of: ch)) }

    let cut = TextWidth.truncate(text, to: width)
    let cutWidth = TextWidth.width(cut)
    if cutWidth > width { finding("truncate-too-wide", "truncate(to: \(width)) is \(cutWidth) columns wide: \(esc(cut))") }
    if cut != text {
        let body = cut.hasSuffix("…") ? String(cut.dropLast()) : cut
        if !text.hasPrefix(body) { finding("truncate-not-a-prefix", "truncate(to: \(width)) is not a prefix: \(esc(cut)) of \(esc(text))") }
    }
    for (name, fitted) in [("fit", TextWidth.fit(text, to: width)), ("fitRight", TextWidth.fitRight(text, to: width))] {
        let w = TextWidth.width(fitted)
        if w != width { finding("\(name)-width", "\(name)(to: \(width)) is \(w) columns wide: \(esc(fitted)) from \(esc(text))") }
    }

    // A line may need more columns than asked only to hold one character wider than that.
    let lines = TextWidth.wrap(text, width: width)
    let limit = max(1, width)
    for line in lines {
        let w = TextWidth.width(line)
        if w > limit && !(line.count == 1 && w == widest) {
            finding("wrap-too-wide", "wrap(width: \(width)) made a line \(w) columns wide: \(esc(line))")
        }
        if line.contains("\n") { finding("wrap-newline", "wrap(width: \(width)) left a newline in \(esc(line))") }
    }
    let kept = lines.joined().filter { $0 != " " }.unicodeScalars
    let given = text.filter { $0 != " " && $0 != "\n" }.unicodeScalars
    if !kept.elementsEqual(given) {
        finding("wrap-lost-text", "wrap(width: \(width)) lost or changed text: \(esc(text)) became \(esc(lines.joined(separator: "⏎")))")
    }
}

// MARK: -

private func hex(_ v: UInt32) -> String {
    let digits = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// Every scalar outside printable ASCII as \u{…} (and a backslash doubled), so the report itself is safe to print.
private func esc(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars.prefix(120) {
        if scalar == "\\" {
            out += "\\\\"
        } else if scalar.value >= 0x20 && scalar.value < 0x7F {
            out.unicodeScalars.append(scalar)
        } else {
            out += "\\u{\(hex(scalar.value))}"
        }
    }
    return out + (s.unicodeScalars.count > 120 ? "…\"" : "\"")
}

/// Reports a broken property and traps. `tag` names the property (scripts/fuzz groups findings by it).
private func finding(_ tag: String, _ what: String) -> Never {
    fatalError("FINDING[\(tag)]: \(what)")
}
