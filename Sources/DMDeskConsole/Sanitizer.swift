/// Makes untrusted text (customer messages, names) safe to draw: nothing in it can reach the terminal
/// as a control sequence. Control characters become visible symbols, so `ESC[2J` is drawn as `␛[2J`
/// and an OSC 52 clipboard write as `␛]52;c;…^G`, instead of clearing the screen or the clipboard.
/// Invisible characters that change how a row reads or lines up (bidi overrides, zero-width spaces and
/// joiners, the BOM) are shown as `\u{…}` too, except where they do their ordinary job: a ZWJ inside an
/// emoji ZWJ sequence (👨‍👩‍👧) and a ZWNJ between letters of a script that writes with it (Persian, Indic).
public enum Sanitizer {
    public enum Newlines: Sendable {
        /// Keep `\n` (the conversation pane wraps on it).
        case keep
        /// Fold line breaks into a single space (one-line previews, names).
        case space
    }

    public static func visible(_ text: String, newlines: Newlines = .keep) -> String {
        // Fast path: most messages are plain printable text.
        if !text.unicodeScalars.contains(where: { needsEscaping($0) || (newlines == .space && $0 == "\n") }),
            !startsALineWithAMark(text)
        {
            return text
        }
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var previousWasCR = false
        for (index, scalar) in scalars.enumerated() {
            defer { previousWasCR = scalar == "\r" }
            if out.last == nil || out.last == "\n", isOrphanMark(scalar) {
                // A combining mark with nothing to combine with would join whatever is drawn before it (a
                // space, the column to its left): it gets the dotted circle Unicode shows marks on.
                out.append("\u{25CC}")
            }
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
            case 0x200D where EmojiZWJ.joins(scalars, at: index):
                out.append(scalar)
            case 0x200C where ScriptJoiner.isBetweenLetters(scalars, at: index):
                out.append(scalar)
            case _ where Self.isPrependLetter(scalar) && (index + 1 == scalars.count || scalars[index + 1] == "\n"):
                // A prepended letter combines with what follows it; at the end of a line that would be the padding.
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            case 0x80..<0xA0, 0x202A...0x202E, 0x2066...0x2069, 0x061C, 0x200E, 0x200F, 0xFFF9...0xFFFB, 0x2028, 0x2029,
                 0x200B...0x200D, 0x2060...0x2064, 0xFEFF, 0x0600...0x0605, 0x06DD, 0x070F, 0x0890...0x0891, 0x08E2,
                 0x110BD, 0x110CD:
                // C1 controls (0x9B is a one-byte CSI on some terminals), bidi embeddings/overrides/isolates
                // (they reorder the rest of the row), Unicode line/paragraph separators, and zero-width
                // characters: a stray joiner glues itself to whatever the terminal draws next (even on a later
                // row), and invisible spaces make look-alike names. Also the prepended format characters (Arabic
                // number signs …): invisible, and they join the character after them, padding included.
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            default:
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// A mark that joins the character before it into one grapheme: a combining mark (Extend) or a spacing mark
    /// (U+17C2, U+093F…), but not a joiner or a selector, which the other rules handle. Asked of Swift's own
    /// grapheme breaking, so it agrees with how `TextWidth` counts: does a space followed by it make one character?
    static func isOrphanMark(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x300 || (0x200C...0x200D).contains(scalar.value) { return false }
        if scalar.properties.isGraphemeExtend { return true }
        var joined = String.UnicodeScalarView()
        joined.append(" ")
        joined.append(scalar)
        return String(joined).count == 1
    }

    /// Letters of Grapheme_Cluster_Break=Prepend (the format ones are escaped everywhere).
    static func isPrependLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0D4E, 0x111C2...0x111C3, 0x1193F, 0x11941, 0x11A3A, 0x11A84...0x11A89, 0x11D46, 0x11F02: return true
        default: return false
        }
    }

    static func startsALineWithAMark(_ text: String) -> Bool {
        var atLineStart = true
        for scalar in text.unicodeScalars {
            if atLineStart && isOrphanMark(scalar) { return true }
            atLineStart = scalar == "\n" || scalar == "\r"
        }
        return false
    }

    static func needsEscaping(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x20 && v != 0x0A { return true }
        if v == 0x0A { return false }
        if v == 0x7F || (0x80..<0xA0).contains(v) { return true }
        if (0x2028...0x202E).contains(v) || (0x2066...0x2069).contains(v) { return true }
        if (0x200B...0x200D).contains(v) || (0x2060...0x2064).contains(v) || v == 0xFEFF { return true }
        if (0x0600...0x0605).contains(v) || v == 0x06DD || v == 0x070F || v == 0x0890 || v == 0x0891 || v == 0x08E2
            || v == 0x110BD || v == 0x110CD || isPrependLetter(scalar)
        {
            return true
        }
        return v == 0x061C || v == 0x200E || v == 0x200F || (0xFFF9...0xFFFB).contains(v)
    }
}

/// Whether a ZERO WIDTH JOINER joins two emoji (UTS #51 emoji ZWJ sequence: element ZWJ element, where an
/// element is an emoji with, at most, its presentation selector, skin tone or tag characters). The
/// sanitizer keeps exactly these joiners and `TextWidth` counts exactly these as one 2-column glyph.
enum EmojiZWJ {
    static func joins(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        guard scalars[index].value == 0x200D, index + 1 < scalars.count, isElementBase(scalars[index + 1]) else {
            return false
        }
        var i = index - 1
        while i >= 0, isElementSuffix(scalars[i]) { i -= 1 }
        return i >= 0 && isElementBase(scalars[i])
    }

    /// An emoji that can start an element: not ASCII (`#`, `*` and digits are Emoji=Yes only for keycaps),
    /// not a lone skin tone or regional indicator.
    static func isElementBase(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        guard v > 0x7F, s.properties.isEmoji, !s.properties.isEmojiModifier else { return false }
        return !(0x1F1E6...0x1F1FF).contains(v)
    }

    /// What may follow an element's emoji before the joiner: VS16, a skin tone, tag characters. Not VS15: a text
    /// presentation sequence (❤︎) is no element of a ZWJ sequence (UTS #51), so "❤︎‍🔥" shows its joiner.
    static func isElementSuffix(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return v == 0xFE0F || (0x1F3FB...0x1F3FF).contains(v) || (0xE0020...0xE007F).contains(v)
    }
}

/// ZERO WIDTH NON-JOINER is ordinary spelling in Persian (می‌خواهم) and in Indic scripts: kept between two
/// letters (or a letter and its marks) of the scripts that use it, shown everywhere else.
enum ScriptJoiner {
    static func isBetweenLetters(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        guard index > 0, index + 1 < scalars.count else { return false }
        return isJoiningLetter(scalars[index - 1]) && isJoiningLetter(scalars[index + 1])
    }

    static func isJoiningLetter(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        let inScript = (0x0600...0x08FF).contains(v)  // Arabic, Syriac, Thaana, N'Ko, Arabic extensions
            || (0x0900...0x0DFF).contains(v)  // Devanagari … Sinhala
            || (0x1000...0x109F).contains(v) || (0x1780...0x18AF).contains(v)  // Myanmar, Khmer, Mongolian
            || (0xFB50...0xFDFF).contains(v) || (0xFE70...0xFEFC).contains(v)  // Arabic presentation forms
        guard inScript else { return false }
        switch s.properties.generalCategory {
        case .otherLetter, .modifierLetter, .nonspacingMark, .spacingMark: return true
        default: return false
        }
    }
}
