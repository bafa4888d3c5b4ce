/// The compose line and prompts: a text buffer edited by grapheme cluster, so the cursor never lands
/// inside an emoji, a flag or a CJK character and Backspace removes exactly what the user sees as one
/// character. Multi-line (Alt+Enter inserts "\n"); lines scroll horizontally to keep the cursor visible.
public struct LineEditor: Equatable, Sendable {
    public private(set) var characters: [Character] = []
    /// Grapheme offset of the cursor, 0...characters.count.
    public private(set) var cursor: Int = 0

    public init(_ text: String = "") {
        characters = Array(text)
        cursor = characters.count
    }

    public var text: String { String(characters) }
    public var isEmpty: Bool { characters.isEmpty }
    /// UTF-8 bytes, the unit of Instagram's 1000-byte limit.
    public var byteCount: Int { characters.reduce(0) { $0 + $1.utf8.count } }
    public var lineCount: Int { characters.reduce(1) { $0 + ($1 == "\n" ? 1 : 0) } }

    public mutating func setText(_ text: String) {
        characters = Array(text)
        cursor = characters.count
    }

    public mutating func clear() { setText("") }

    /// Inserts at the cursor. Code points typed one by one (an emoji's ZWJ parts, a combining accent,
    /// the second half of a flag) join the grapheme before them, as they would in the final text.
    public mutating func insert(_ text: String) {
        guard !text.isEmpty else { return }
        let before = String(characters[..<cursor]) + text
        let after = String(characters[cursor...])
        let joined = Array(before + after)
        let cursorAfter = before.count
        characters = joined
        cursor = min(cursorAfter, joined.count)
    }

    public mutating func insertNewline() { insert("\n") }

    public mutating func backspace() {
        guard cursor > 0 else { return }
        characters.remove(at: cursor - 1)
        cursor -= 1
    }

    public mutating func deleteForward() {
        guard cursor < characters.count else { return }
        characters.remove(at: cursor)
    }

    public mutating func moveLeft() { cursor = max(0, cursor - 1) }
    public mutating func moveRight() { cursor = min(characters.count, cursor + 1) }

    /// Home / Ctrl-A: start of the current line.
    public mutating func moveToLineStart() { cursor = lineStart(of: cursor) }
    /// End / Ctrl-E: end of the current line.
    public mutating func moveToLineEnd() { cursor = lineEnd(of: cursor) }

    /// Ctrl-W: deletes the word before the cursor (and the spaces between it and the cursor).
    public mutating func deleteWordBackward() {
        var start = cursor
        while start > 0 && characters[start - 1].isWhitespace && characters[start - 1] != "\n" { start -= 1 }
        while start > 0 && !characters[start - 1].isWhitespace { start -= 1 }
        if start == cursor && start > 0 { start -= 1 }  // only a newline before the cursor: join lines
        characters.removeSubrange(start..<cursor)
        cursor = start
    }

    /// Ctrl-U: deletes from the start of the current line to the cursor.
    public mutating func deleteToLineStart() {
        let start = lineStart(of: cursor)
        characters.removeSubrange(start..<cursor)
        cursor = start
    }

    /// Ctrl-K: deletes from the cursor to the end of the current line.
    public mutating func deleteToLineEnd() {
        characters.removeSubrange(cursor..<lineEnd(of: cursor))
    }

    /// Up/Down between lines of a multi-line draft, keeping the column as close as possible.
    public mutating func moveUp() {
        let start = lineStart(of: cursor)
        guard start > 0 else { return }
        let column = TextWidth.width(of: characters[start..<cursor])
        let previousStart = lineStart(of: start - 1)
        cursor = offset(forColumn: column, from: previousStart, lineEnd: start - 1)
    }

    public mutating func moveDown() {
        let end = lineEnd(of: cursor)
        guard end < characters.count else { return }
        let column = TextWidth.width(of: characters[lineStart(of: cursor)..<cursor])
        cursor = offset(forColumn: column, from: end + 1, lineEnd: lineEnd(of: end + 1))
    }

    // MARK: - Layout for drawing

    /// The draft's lines (split at "\n") and where the cursor is: line index and display column.
    public func layout() -> (lines: [[Character]], cursorLine: Int, cursorColumn: Int) {
        var lines: [[Character]] = [[]]
        var cursorLine = 0
        var cursorColumn = 0
        for (i, ch) in characters.enumerated() {
            if i == cursor { cursorLine = lines.count - 1; cursorColumn = TextWidth.width(of: lines[lines.count - 1]) }
            if ch == "\n" { lines.append([]) } else { lines[lines.count - 1].append(ch) }
        }
        if cursor == characters.count {
            cursorLine = lines.count - 1
            cursorColumn = TextWidth.width(of: lines[lines.count - 1])
        }
        return (lines, cursorLine, cursorColumn)
    }

    /// Horizontal scroll for a field `width` columns wide: the first visible column, chosen so the
    /// cursor (and the cell it sits on) stays visible.
    public static func scrollOffset(cursorColumn: Int, width: Int) -> Int {
        guard width > 1 else { return cursorColumn }
        return max(0, cursorColumn - (width - 1))
    }

    /// The part of `line` visible from column `offset` in `width` columns (wide characters that would be
    /// cut in half at either edge are left out).
    public static func visibleSlice(_ line: [Character], offset: Int, width: Int) -> String {
        var out = ""
        var column = 0
        var used = 0
        for ch in line {
            let w = TextWidth.width(of: ch)
            defer { column += w }
            if column < offset {
                if column + w > offset {  // a wide character cut by the left edge: keep the columns aligned
                    out += String(repeating: " ", count: column + w - offset)
                    used += column + w - offset
                }
                continue
            }
            if used + w > width { break }
            out.append(ch)
            used += w
        }
        return out
    }

    // MARK: - Helpers

    private func lineStart(of index: Int) -> Int {
        var i = index
        while i > 0 && characters[i - 1] != "\n" { i -= 1 }
        return i
    }

    private func lineEnd(of index: Int) -> Int {
        var i = index
        while i < characters.count && characters[i] != "\n" { i += 1 }
        return i
    }

    private func offset(forColumn column: Int, from start: Int, lineEnd end: Int) -> Int {
        var i = start
        var used = 0
        while i < end {
            let w = TextWidth.width(of: characters[i])
            if used + w > column { break }
            used += w
            i += 1
        }
        return i
    }
}
