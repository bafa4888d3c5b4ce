/// Makes untrusted text (customer messages, names) safe to draw: nothing in it can reach the terminal
/// as a control sequence. Control characters become visible symbols, so `ESC[2J` is drawn as `␛[2J`
/// and an OSC 52 clipboard write as `␛]52;c;…^G`, instead of clearing the screen or the clipboard.
public enum Sanitizer {
    public enum Newlines: Sendable {
        /// Keep `\n` (the conversation pane wraps on it).
        case keep
        /// Fold line breaks into a single space (one-line previews, names).
        case space
    }

    public static func visible(_ text: String, newlines: Newlines = .keep) -> String {
        // Fast path: most messages are plain printable text.
        if !text.unicodeScalars.contains(where: { needsEscaping($0) || (newlines == .space && $0 == "\n") }) {
            return text
        }
        var out = String.UnicodeScalarView()
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            defer { previousWasCR = scalar == "\r" }
            switch scalar.value {
            case 0x0A:
                if previousWasCR { continue }  // CRLF already emitted as one break
                out.append(newlines == .keep ? "\n" : " ")
            case 0x0D:
                out.append(newlines == .keep ? "\n" : " ")
            case 0x09:
                out.append(contentsOf: "    ".unicodeScalars)
            case 0x1B:
                out.append("␛")
            case 0x00..<0x20:
                out.append("^")
                out.append(Unicode.Scalar(UInt8(scalar.value + 0x40)))
            case 0x7F:
                out.append(contentsOf: "^?".unicodeScalars)
            case 0x80..<0xA0, 0x202A...0x202E, 0x2066...0x2069, 0x061C, 0x200E, 0x200F, 0xFFF9...0xFFFB, 0x2028, 0x2029:
                // C1 controls (0x9B is a one-byte CSI on some terminals), bidi embeddings/overrides/isolates
                // (they reorder the rest of the row), and Unicode line/paragraph separators.
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            default:
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func needsEscaping(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x20 && v != 0x0A { return true }
        if v == 0x0A { return false }
        if v == 0x7F || (0x80..<0xA0).contains(v) { return true }
        if (0x2028...0x202E).contains(v) || (0x2066...0x2069).contains(v) { return true }
        return v == 0x061C || v == 0x200E || v == 0x200F || (0xFFF9...0xFFFB).contains(v)
    }
}
