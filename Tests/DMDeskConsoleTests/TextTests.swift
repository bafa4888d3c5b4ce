@testable import DMDeskConsole
import Testing

@Suite struct TextWidthTests {
    @Test func asciiAndCJK() {
        #expect(TextWidth.width("hello") == 5)
        #expect(TextWidth.width("中文") == 4)
        #expect(TextWidth.width("こんにちは") == 10)
        #expect(TextWidth.width("한국어") == 6)
    }

    @Test func emoji() {
        #expect(TextWidth.width("😀") == 2)
        #expect(TextWidth.width("👍🏽") == 2)  // skin-tone modifier
        #expect(TextWidth.width("👨‍👩‍👧") == 2)  // ZWJ family
        #expect(TextWidth.width("🇺🇸") == 2)  // regional-indicator flag
        #expect(TextWidth.width("❤️") == 2)  // VS16 emoji presentation
        #expect(TextWidth.width("1️⃣") == 2)  // keycap
        #expect(TextWidth.width("a😀b") == 4)
    }

    @Test func combiningMarks() {
        #expect(TextWidth.width("e\u{301}") == 1)
        #expect(TextWidth.width("Cafe\u{301}") == 4)
        #expect(TextWidth.width("\u{301}") == 0)
    }

    @Test func truncation() {
        #expect(TextWidth.truncate("hello world", to: 5) == "hell…")
        #expect(TextWidth.truncate("hello", to: 5) == "hello")
        #expect(TextWidth.truncate("中文字", to: 5) == "中文…")
        #expect(TextWidth.width(TextWidth.truncate("中文字符", to: 4)) <= 4)
        #expect(TextWidth.truncate("👨‍👩‍👧👨‍👩‍👧", to: 3) == "👨‍👩‍👧…")
        #expect(TextWidth.truncate("abc", to: 0) == "")
        #expect(TextWidth.fit("ab", to: 4) == "ab  ")
        #expect(TextWidth.fitRight("ab", to: 4) == "  ab")
    }

    @Test func wrapping() {
        #expect(TextWidth.wrap("中文", width: 1) == ["中", "文"], "a character wider than the line gets a line of its own")
        #expect(TextWidth.wrap("the quick brown fox", width: 10) == ["the quick", "brown fox"])
        #expect(TextWidth.wrap("line one\nline two", width: 20) == ["line one", "line two"])
        #expect(TextWidth.wrap("abcdefghij", width: 4) == ["abcd", "efgh", "ij"])
        #expect(TextWidth.wrap("中文中文中文", width: 5) == ["中文", "中文", "中文"])
        #expect(TextWidth.wrap("", width: 5) == [""])
        for line in TextWidth.wrap("👍🏽👍🏽👍🏽 and words 🇺🇸🇺🇸 more words here", width: 7) {
            #expect(TextWidth.width(line) <= 7)
        }
    }

    @Test func drawFormsKeepWidths() {
        #expect(TextWidth.drawForm(of: "a") == .plain)
        #expect(TextWidth.drawForm(of: "中") == .plain)
        #expect(TextWidth.drawForm(of: "🇺🇸") == .plain)  // two 1-column cells, and the pair is 2 wide
        #expect(TextWidth.drawForm(of: "👨‍👩‍👧") == .padded(["\u{1F468}"], padding: 0))  // its first emoji, 2 columns
        if case .padded(let scalars, let padding) = TextWidth.drawForm(of: "❤️") {
            #expect(scalars == ["\u{2764}"])
            #expect(padding == 1)
        } else { Issue.record("VS16 heart should be padded") }
        if case .padded(let scalars, let padding) = TextWidth.drawForm(of: "👍🏽") {
            #expect(scalars == ["\u{1F44D}"])
            #expect(padding == 0)
        } else { Issue.record("skin tone should be drawn as its base") }
    }
}

@Suite struct SanitizerTests {
    @Test func escapeSequencesAreVisible() {
        #expect(Sanitizer.visible("\u{1B}[2J") == "␛[2J")
        let osc = Sanitizer.visible("\u{1B}]52;c;aGVsbG8=\u{07}")
        #expect(osc == "␛]52;c;aGVsbG8=^G")
        let st = Sanitizer.visible("\u{1B}]52;c;aGVsbG8=\u{1B}\\")
        #expect(st == "␛]52;c;aGVsbG8=␛\\")
        #expect(!osc.unicodeScalars.contains { $0.value < 0x20 })
    }

    @Test func controlCharacters() {
        #expect(Sanitizer.visible("a\u{00}b") == "a^@b")
        #expect(Sanitizer.visible("a\u{7F}b") == "a^?b")
        #expect(Sanitizer.visible("\u{9B}31m") == "\\u{9b}31m")  // C1 CSI
        #expect(Sanitizer.visible("a\tb") == "a    b")
        #expect(Sanitizer.visible("plain text") == "plain text")
    }

    @Test func newlines() {
        #expect(Sanitizer.visible("a\nb") == "a\nb")
        #expect(Sanitizer.visible("a\r\nb") == "a\nb")
        #expect(Sanitizer.visible("a\nb", newlines: .space) == "a b")
        #expect(Sanitizer.visible("a\r\nb", newlines: .space) == "a b")
    }

    @Test func bidiOverridesAreVisible() {
        #expect(Sanitizer.visible("abc\u{202E}fed") == "abc\\u{202e}fed")
        #expect(Sanitizer.visible("\u{2066}x\u{2069}") == "\\u{2066}x\\u{2069}")
        for v in [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069] {
            let s = Sanitizer.visible(String(Unicode.Scalar(UInt32(v))!))
            #expect(!s.unicodeScalars.contains { $0.value == UInt32(v) })
        }
    }

    @Test func emojiAndCJKUntouched() {
        let text = "こんにちは 👨‍👩‍👧 🇺🇸 👍🏽"
        #expect(Sanitizer.visible(text) == text)
    }
}

@Suite struct LineEditorTests {
    @Test func insertAndBytes() {
        var editor = LineEditor()
        editor.insert("hi ")
        editor.insert("😀")
        #expect(editor.text == "hi 😀")
        #expect(editor.characters.count == 4)
        #expect(editor.byteCount == 7)
    }

    @Test func codePointsTypedOneByOneJoin() {
        var editor = LineEditor()
        for scalar in "👨‍👩‍👧".unicodeScalars { editor.insert(String(scalar)) }
        #expect(editor.characters.count == 1)
        #expect(editor.cursor == 1)
        for scalar in "🇺🇸".unicodeScalars { editor.insert(String(scalar)) }
        #expect(editor.characters.count == 2)
        editor.insert("e")
        editor.insert("\u{301}")
        #expect(editor.characters.count == 3)
        #expect(editor.text == "👨‍👩‍👧🇺🇸e\u{301}")
    }

    @Test func backspaceRemovesOneGrapheme() {
        var editor = LineEditor("a中👨‍👩‍👧")
        editor.backspace()
        #expect(editor.text == "a中")
        editor.backspace()
        #expect(editor.text == "a")
        var flags = LineEditor("🇺🇸🇪🇸")
        flags.backspace()
        #expect(flags.text == "🇺🇸")
        var tone = LineEditor("ok👍🏽")
        tone.backspace()
        #expect(tone.text == "ok")
    }

    @Test func cursorMovement() {
        var editor = LineEditor("ab😀cd")
        editor.moveLeft()
        editor.moveLeft()
        editor.moveLeft()
        editor.backspace()
        #expect(editor.text == "a😀cd")
        editor.moveToLineStart()  // Ctrl-A
        #expect(editor.cursor == 0)
        editor.insert("X")
        #expect(editor.text == "Xa😀cd")
        editor.moveToLineEnd()  // Ctrl-E
        #expect(editor.cursor == editor.characters.count)
        editor.deleteForward()
        #expect(editor.text == "Xa😀cd")
    }

    @Test func ctrlWAndCtrlU() {
        var editor = LineEditor("hello big world  ")
        editor.deleteWordBackward()
        #expect(editor.text == "hello big ")
        editor.deleteWordBackward()
        #expect(editor.text == "hello ")
        editor.insert("there")
        editor.moveLeft()
        editor.moveLeft()
        editor.deleteToLineStart()
        #expect(editor.text == "re")
        #expect(editor.cursor == 0)
    }

    @Test func multiLine() {
        var editor = LineEditor("first")
        editor.insertNewline()
        editor.insert("second")
        #expect(editor.lineCount == 2)
        editor.moveToLineStart()
        #expect(editor.cursor == 6)
        editor.deleteToLineStart()  // nothing before the cursor on this line
        #expect(editor.text == "first\nsecond")
        editor.moveUp()
        #expect(editor.cursor == 0)
        let layout = editor.layout()
        #expect(layout.lines.count == 2)
        #expect(layout.cursorLine == 0)
    }

    @Test func layoutAndScrolling() {
        let editor = LineEditor("中文abc")
        let layout = editor.layout()
        #expect(layout.cursorColumn == 7)
        #expect(LineEditor.scrollOffset(cursorColumn: 7, width: 5) == 3)
        #expect(LineEditor.visibleSlice(layout.lines[0], offset: 3, width: 5) == " abc")
        #expect(LineEditor.visibleSlice(layout.lines[0], offset: 0, width: 5) == "中文a")
    }

    @Test func byteCountCountsUTF8() {
        let editor = LineEditor(String(repeating: "é", count: 500) + "a")
        #expect(editor.byteCount == 1001)
    }
}
