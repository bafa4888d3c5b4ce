import DMDeskCore
import DMDeskGraph
import Testing

@Suite("splitForSend")
struct SplitForSendTests {
    @Test func shortTextIsUnchanged() {
        #expect(splitForSend("Hello") == ["Hello"])
        let exactly = String(repeating: "a", count: maxMessageBytes)
        #expect(splitForSend(exactly) == [exactly])
    }

    @Test func longTextSplitsAtWordBoundariesWithinTheByteLimit() {
        let words = (0..<400).map { "word\($0)" }
        let text = words.joined(separator: " ")
        #expect(text.utf8.count > 2 * maxMessageBytes)

        let pieces = splitForSend(text)
        #expect(pieces.count == 4)
        for piece in pieces {
            #expect(piece.utf8.count <= maxMessageBytes)
            #expect(!piece.hasPrefix(" ") && !piece.hasSuffix(" "))
        }
        // No word was cut: the pieces are whole words, in order.
        #expect(pieces.flatMap { $0.split(separator: " ").map(String.init) } == words)
        // Greedy: a piece is only closed when the next word would not fit.
        for (piece, next) in zip(pieces, pieces.dropFirst()) {
            let firstWord = next.split(separator: " ").first!
            #expect(piece.utf8.count + 1 + firstWord.utf8.count > maxMessageBytes)
        }
    }

    @Test func multiByteTextCountsBytesNotCharacters() {
        // "привет " is 13 bytes; 100 of them is 1300 bytes but only 700 characters.
        let text = Array(repeating: "привет", count: 100).joined(separator: " ")
        let pieces = splitForSend(text)
        #expect(pieces.count == 2)
        #expect(pieces.allSatisfy { $0.utf8.count <= maxMessageBytes })
        #expect(pieces.joined(separator: " ") == text)
    }

    @Test func emojiAreNeverCut() {
        let family = "👨‍👩‍👧‍👦"  // one grapheme, 25 bytes
        let flag = "🇩🇪"  // one grapheme, 8 bytes
        let word = String(repeating: family + flag, count: 20)  // a single 660-byte "word"
        let pieces = splitForSend("Hi " + word + " bye", maxBytes: 100)
        #expect(pieces.allSatisfy { $0.utf8.count <= 100 })
        #expect(pieces.joined().filter { $0 != " " } == "Hi" + word + "bye")
        for piece in pieces {
            // Every character of every piece is a whole family, a whole flag, or a letter.
            #expect(piece.allSatisfy { $0 == Character(family) || $0 == Character(flag) || $0.isLetter || $0 == " " })
        }
    }

    @Test func accentedLettersAreNotCutInsideAWord() {
        let decomposed = "e\u{301}"  // é as e + combining acute: one grapheme, 3 bytes
        let word = String(repeating: decomposed, count: 10)  // 30 bytes
        let pieces = splitForSend(word, maxBytes: 8)
        #expect(pieces.allSatisfy { $0.utf8.count <= 8 })
        #expect(pieces.allSatisfy { $0.unicodeScalars.first != "\u{301}" })
        #expect(pieces.joined() == word)
        #expect(pieces.count == 5)  // two graphemes (6 bytes) per piece
    }

    @Test func newlinesInsideAPieceAreKept() {
        let paragraph = String(repeating: "lorem ipsum ", count: 40)  // 480 bytes
        let text = paragraph + "\n\n" + paragraph + "\n\n" + paragraph
        let pieces = splitForSend(text)
        #expect(pieces.count == 2)
        #expect(pieces[0].contains("\n\n"))
        #expect(pieces.allSatisfy { $0.utf8.count <= maxMessageBytes })
    }
}
