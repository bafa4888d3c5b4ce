import CNcursesw
import Glibc

/// Display width of text in terminal columns, per grapheme cluster (Swift `Character`), plus the
/// truncation and word-wrapping built on it. Widths come from the C library's `wcwidth` (the same table
/// curses uses), with emoji sequences fixed up: skin-tone modifiers, ZWJ sequences, VS16 emoji
/// presentation, keycaps and regional-indicator flags are one 2-column glyph.
public enum TextWidth {
    /// wcwidth only knows non-ASCII characters under a UTF-8 LC_CTYPE.
    private static let localeReady: Bool = {
        if dm_wcwidth(0x4E00) != 2 { _ = setlocale(LC_CTYPE, "C.UTF-8") }
        return true
    }()

    public static func width(_ text: String) -> Int {
        var total = 0
        for ch in text { total += width(of: ch) }
        return total
    }

    public static func width<S: Sequence>(of characters: S) -> Int where S.Element == Character {
        var total = 0
        for ch in characters { total += width(of: ch) }
        return total
    }

    public static func width(of ch: Character) -> Int {
        if let ascii = ch.asciiValue { return ascii >= 0x20 && ascii != 0x7F ? 1 : 0 }
        let scalars = ch.unicodeScalars
        let first = scalars.first!
        if scalars.count == 1 { return scalarWidth(first) }
        var regionalIndicators = 0
        for s in scalars {
            switch s.value {
            case 0x1F3FB...0x1F3FF, 0x20E3: return 2  // skin-tone modifier, keycap
            case 0xFE0F where first.properties.isEmoji: return 2  // emoji presentation
            case 0x200D where joinsEmoji(scalars): return 2  // ZWJ sequence (the sanitizer keeps only these joiners)
            case 0x1F1E6...0x1F1FF: regionalIndicators += 1
            default: break
            }
        }
        if regionalIndicators >= 2 { return 2 }
        return scalarWidth(first)  // the rest are combining marks (width 0), e.g. "e\u{301}", Hangul jamo
    }

    /// A stray joiner ("a" + ZWJ, an emoji + ZWJ at the end) does not make a 2-column glyph.
    private static func joinsEmoji(_ scalars: Character.UnicodeScalarView) -> Bool {
        let array = Array(scalars)
        return array.indices.contains { array[$0].value == 0x200D && EmojiZWJ.joins(array, at: $0) }
    }

    static func scalarWidth(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x20 || (0x7F..<0xA0).contains(v) { return 0 }
        if v < 0x7F { return 1 }
        _ = localeReady
        let w = dm_wcwidth(wchar_t(bitPattern: v))
        if w >= 0 { return Int(w) }
        // Unassigned in the C library's table (or no UTF-8 locale): decide from Unicode properties.
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if scalar.properties.isEmojiPresentation { return 2 }
        if (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v) || (0x20000...0x3FFFD).contains(v)
        {
            return 2
        }
        return 1
    }

    /// Cuts `text` to at most `width` columns, ending in `ellipsis` when something was cut.
    public static func truncate(_ text: String, to width: Int, ellipsis: String = "…") -> String {
        guard width > 0 else { return "" }
        var used = 0
        var end = text.startIndex
        var index = text.startIndex
        // Find the cut point for the ellipsis case while measuring.
        let ellipsisWidth = Self.width(ellipsis)
        var cutForEllipsis: String.Index? = nil
        while index < text.endIndex {
            let w = Self.width(of: text[index])
            if used + w > width - ellipsisWidth && cutForEllipsis == nil { cutForEllipsis = index }
            if used + w > width {
                let cut = cutForEllipsis ?? index
                return String(text[..<cut]) + (ellipsisWidth <= width ? ellipsis : "")
            }
            used += w
            index = text.index(after: index)
            end = index
        }
        return String(text[..<end])
    }

    /// Truncates and pads with spaces to exactly `width` columns.
    public static func fit(_ text: String, to width: Int) -> String {
        let cut = truncate(text, to: width)
        let w = Self.width(cut)
        return w < width ? cut + String(repeating: " ", count: width - w) : cut
    }

    /// Pads on the left to `width` columns (right alignment); truncates if longer.
    public static func fitRight(_ text: String, to width: Int) -> String {
        let cut = truncate(text, to: width)
        let w = Self.width(cut)
        return w < width ? String(repeating: " ", count: width - w) + cut : cut
    }

    /// Word-wraps to `width` columns: breaks at spaces where it can, inside a word when a word is
    /// longer than a line, and always at "\n". Never returns an empty array.
    public static func wrap(_ text: String, width: Int) -> [String] {
        let width = max(1, width)
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            wrapParagraph(Substring(paragraph), width: width, into: &lines)
        }
        return lines.isEmpty ? [""] : lines
    }

    private static func wrapParagraph(_ text: Substring, width: Int, into lines: inout [String]) {
        let linesBefore = lines.count
        var line = ""
        var lineWidth = 0
        var lastSpaceInLine: String.Index? = nil  // index into `line` just after the last space
        for ch in text {
            let w = Self.width(of: ch)
            if lineWidth + w > width && !line.isEmpty {
                if ch == " " {  // a space at the break point is swallowed
                    lines.append(line)
                    line = ""; lineWidth = 0; lastSpaceInLine = nil
                    continue
                }
                if let cut = lastSpaceInLine, cut > line.startIndex {
                    let head = String(line[..<cut])
                    let tail = String(line[cut...])
                    lines.append(String(head.dropLast()))  // drop the space we broke at
                    line = tail
                    lineWidth = Self.width(tail)
                } else {
                    lines.append(line)
                    line = ""; lineWidth = 0
                }
                lastSpaceInLine = nil
            }
            line.append(ch)
            lineWidth += w
            if ch == " " { lastSpaceInLine = line.endIndex }
            // A long run after the last break could still overflow (a word wider than the line).
            while lineWidth > width {
                // A character wider than the whole line (a CJK character at width 1) gets a line of its own,
                // rather than none at all, which would loop for ever.
                let fitted = truncate(line, to: width, ellipsis: "")
                let head = fitted.isEmpty ? String(line.prefix(1)) : fitted
                lines.append(head)
                line = String(line.dropFirst(head.count))
                lineWidth = Self.width(line)
                lastSpaceInLine = nil
            }
        }
        // The paragraph's last line; an empty one only if the paragraph itself is empty.
        if !line.isEmpty || lines.count == linesBefore { lines.append(line) }
    }

    // MARK: - Drawing support

    /// How one grapheme is handed to curses so that curses, the terminal and `width(of:)` agree on
    /// its width (terminals disagree about emoji sequences).
    enum DrawForm: Equatable {
        /// Pass the scalars as they are; curses' own cell grouping gives the right width.
        case plain
        /// Draw these scalars, then pad with spaces up to the grapheme's width.
        case padded([Unicode.Scalar], padding: Int)
    }

    static func drawForm(of ch: Character) -> DrawForm {
        if ch.asciiValue != nil { return .plain }
        let scalars = Array(ch.unicodeScalars)
        if scalars.count == 1 { return .plain }
        let target = width(of: ch)
        var cursesWidth = 0
        for s in scalars { cursesWidth += max(0, scalarWidth(s)) }
        let hasZWJ = scalars.contains { $0.value == 0x200D }
        // A joiner that joins no emoji would glue whatever the terminal draws next onto this cell: never send it.
        let strayJoiner = hasZWJ && !joinsEmoji(ch.unicodeScalars)
        if cursesWidth == target && !strayJoiner { return .plain }
        let firstWidth = scalarWidth(scalars[0])
        // ZWJ sequences, skin tones, VS16 on a narrow base: draw the base glyph alone (plus any zero-width
        // marks other than emoji joiners/selectors) and pad, so the row stays aligned on every terminal even
        // if the glyph loses its modifier. A ZWJ sequence cannot be one curses cell: setcchar keeps only the
        // non-spacing characters after the first, so 👨‍👩‍👧 would be stored as 👨 + a dangling joiner, which the
        // terminal then glues onto whatever it draws next (on another row, even).
        var base = [scalars[0]]
        for s in scalars.dropFirst() {
            let v = s.value
            if v == 0x200D { break }
            if v == 0xFE0F || v == 0xFE0E || (0x1F3FB...0x1F3FF).contains(v) { continue }
            if scalarWidth(s) == 0 { base.append(s) }
        }
        return .padded(base, padding: max(0, target - firstWidth))
    }
}
