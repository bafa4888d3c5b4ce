@testable import DMDeskConsole
import Testing

@Suite("Zero-width characters: shown, except where they join an emoji or spell a word")
struct ZeroWidthTests {
    @Test("a combining mark with nothing to combine with gets a dotted circle, so padding cannot absorb it")
    func orphanCombiningMarks() {
        #expect(Sanitizer.visible("\u{20E3}x") == "\u{25CC}\u{20E3}x")
        #expect(Sanitizer.visible("ok\n\u{301}e") == "ok\n\u{25CC}\u{301}e")
        #expect(Sanitizer.visible("e\u{301}") == "e\u{301}", "a mark on a letter is left alone")
        // The fuzzer's case: right-aligned text that starts with a mark came out one column too wide.
        let shown = Sanitizer.visible("\u{20E3}\u{FFFD}\u{FFFD}\u{7}")
        #expect(TextWidth.width(TextWidth.fitRight(shown, to: 22)) == 22)
        // A spacing mark (Khmer U+17C2, Devanagari U+093F) joins the character before it just the same.
        #expect(Sanitizer.visible("\u{17C2}") == "\u{25CC}\u{17C2}")
        #expect(Sanitizer.visible("a\n\u{93F}") == "a\n\u{25CC}\u{93F}")
        #expect(Sanitizer.visible("\u{915}\u{93F}") == "\u{915}\u{93F}", "a vowel sign on its consonant is left alone")
        #expect(TextWidth.width(TextWidth.fitRight(Sanitizer.visible("\u{17C2}"), to: 94)) == 94)
    }

    @Test("a prepended character cannot join the padding after it")
    func prependedCharacters() {
        #expect(Sanitizer.visible("\u{0600}12") == "\\u{600}12")
        let shown = Sanitizer.visible("\u{4006E}\u{0}\u{0}\u{0}\u{08E2}")
        #expect(TextWidth.width(TextWidth.fit(shown, to: 87)) == 87)
        #expect(Sanitizer.visible("ab\u{0D4E}") == "ab\\u{d4e}" && Sanitizer.visible("\u{0D4E}ക") == "\u{0D4E}ക")
    }

    @Test("ZWSP, ZWNJ, ZWJ, word joiner and BOM from customers are drawn as visible escapes", arguments: [
        ("ana\u{200B}k", "ana\\u{200b}k"),
        ("ana\u{200C}k", "ana\\u{200c}k"),
        ("ana\u{200D}k", "ana\\u{200d}k"),
        ("ana\u{2060}k", "ana\\u{2060}k"),
        ("\u{FEFF}hello", "\\u{feff}hello"),
        ("a\u{2061}\u{2062}\u{2063}\u{2064}b", "a\\u{2061}\\u{2062}\\u{2063}\\u{2064}b"),
        ("\u{200D}", "\\u{200d}"),
        ("end\u{200D}", "end\\u{200d}"),
    ])
    func visible(input: String, expected: String) {
        #expect(Sanitizer.visible(input) == expected)
        #expect(!Sanitizer.visible(input).unicodeScalars.contains { Sanitizer.needsEscaping($0) })
    }

    @Test("a ZWJ inside an emoji ZWJ sequence is kept: the sequence stays one emoji", arguments: [
        "👨‍👩‍👧", "👩🏽‍💻", "🏳️‍🌈", "❤️‍🔥", "👁️‍🗨️", "🧑‍🤝‍🧑", "👩‍❤️‍💋‍👨", "🏴‍☠️", "family 👨‍👩‍👧 end",
    ])
    func emojiSequencesKept(text: String) {
        #expect(Sanitizer.visible(text) == text)
        for ch in text where ch.unicodeScalars.contains(where: { $0.value == 0x200D }) {
            #expect(TextWidth.width(of: ch) == 2, "\(ch.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test("a ZWJ that joins no two emoji is shown, wherever it is", arguments: [
        ("👨\u{200D}", "👨\\u{200d}"),
        ("\u{200D}👩", "\\u{200d}👩"),
        ("a\u{200D}👩", "a\\u{200d}👩"),
        ("👨\u{200D}a", "👨\\u{200d}a"),
        ("👨\u{200D}\u{200D}👩", "👨\\u{200d}\\u{200d}👩"),
        ("1\u{200D}2", "1\\u{200d}2"),  // digits are Emoji=Yes only for keycaps
        ("🇺\u{200D}🇸", "🇺\\u{200d}🇸"),
        ("👨\u{200D}🏽", "👨\\u{200d}🏽"),  // a skin tone alone is not an element
        ("\u{2764}\u{FE0E}\u{200D}🔥", "\u{2764}\u{FE0E}\\u{200d}🔥"),  // text presentation (VS15) is no element
    ])
    func strayJoinersShown(input: String, expected: String) {
        #expect(Sanitizer.visible(input) == expected)
    }

    @Test("a ZWNJ between letters of a script that spells with it is kept; elsewhere it is shown")
    func zeroWidthNonJoiner() {
        #expect(Sanitizer.visible("می\u{200C}خواهم") == "می\u{200C}خواهم")  // Persian "I want"
        #expect(Sanitizer.visible("क्\u{200C}ष") == "क्\u{200C}ष")  // Devanagari, after a virama
        #expect(Sanitizer.visible("a\u{200C}b") == "a\\u{200c}b")
        #expect(Sanitizer.visible("\u{200C}خ") == "\\u{200c}خ")
        #expect(Sanitizer.visible("خ\u{200C}") == "خ\\u{200c}")
    }

    @Test("TextWidth agrees: a stray joiner never counts as an emoji glyph nor reaches curses")
    func widthsAgree() {
        #expect(TextWidth.width(of: "1\u{200D}") == 1)
        #expect(TextWidth.width(of: "a\u{200D}") == 1)
        #expect(TextWidth.width(of: "👨\u{200D}") == 2)
        #expect(TextWidth.width("👨‍👩‍👧") == 2)
        // What the sanitizer lets through measures the same as what is drawn: one column per escape character.
        for raw in ["look\u{200B}alike", "a\u{200D}b", "x\u{FEFF}", "family 👨‍👩‍👧 end", "می\u{200C}خواهم"] {
            let shown = Sanitizer.visible(raw)
            let drawn = shown.reduce(0) { total, ch in
                switch TextWidth.drawForm(of: ch) {
                case .plain: return total + TextWidth.width(of: ch)
                case .padded(let scalars, let padding):
                    return total + scalars.reduce(0) { $0 + max(0, TextWidth.scalarWidth($1)) } + padding
                }
            }
            #expect(drawn == TextWidth.width(shown), "\(raw)")
        }
        // Unsanitized text (the operator's own draft): a stray joiner is drawn without the joiner.
        if case .padded(let scalars, let padding) = TextWidth.drawForm(of: "a\u{200D}") {
            #expect(scalars == ["a"] && padding == 0)
        } else {
            Issue.record("a stray joiner must not be passed to curses")
        }
        #expect(TextWidth.drawForm(of: "👨‍👩‍👧") == .padded(["\u{1F468}"], padding: 0), "no joiner ever reaches curses")
    }
}

@Suite struct MoreBelowHintTests {
    @Test("the \"↓ N more\" hint is one of its whole forms and fits, at any width and count")
    func fits() {
        for count in [1, 9, 2167, 1_000_000, Int.max] {
            for width in 0...40 {
                let hint = ConsoleController.moreBelowHint(count: count, width: width)
                #expect(TextWidth.width(hint) <= width)
                #expect([" ↓ \(count) more ", " ↓ \(count) ", "↓\(count)", "↓", ""].contains(hint))
                if width >= 14 + String(count).count { #expect(hint == " ↓ \(count) more ") }
            }
        }
    }
}
