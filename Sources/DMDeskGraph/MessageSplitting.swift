import DMDeskCore

/// Splits an auto-reply longer than `maxBytes` UTF-8 bytes into messages that each fit, breaking at
/// whitespace. Whitespace inside a piece is kept as written; the whitespace at a break is dropped.
/// A single word longer than the limit is broken between grapheme clusters, so an emoji, a flag or an
/// accented letter is never cut. Text that already fits comes back unchanged as the only element.
public func splitForSend(_ text: String, maxBytes: Int = maxMessageBytes) -> [String] {
    // Below 4 bytes not even one Unicode scalar is guaranteed to fit.
    let maxBytes = max(maxBytes, 4)
    guard text.utf8.count > maxBytes else { return [text] }

    var pieces: [String] = []
    var current = ""
    var pendingSpace = ""  // whitespace seen after `current`, added only if the next word joins it

    for run in whitespaceRuns(text) {
        if run.isSpace {
            if !current.isEmpty { pendingSpace += run.text }
            continue
        }
        let word = run.text
        if current.isEmpty || current.utf8.count + pendingSpace.utf8.count + word.utf8.count > maxBytes {
            if !current.isEmpty { pieces.append(current) }
            current = ""
            if word.utf8.count <= maxBytes {
                current = word
            } else {
                var parts = splitAtGraphemes(word, maxBytes: maxBytes)
                current = parts.removeLast()
                pieces.append(contentsOf: parts)
            }
        } else {
            current += pendingSpace + word
        }
        pendingSpace = ""
    }
    if !current.isEmpty { pieces.append(current) }
    return pieces
}

/// Alternating runs of whitespace and non-whitespace characters.
private func whitespaceRuns(_ text: String) -> [(isSpace: Bool, text: String)] {
    var runs: [(isSpace: Bool, text: String)] = []
    for character in text {
        let isSpace = character.isWhitespace
        if let last = runs.indices.last, runs[last].isSpace == isSpace {
            runs[last].text.append(character)
        } else {
            runs.append((isSpace, String(character)))
        }
    }
    return runs
}

/// Breaks `word` between characters (grapheme clusters). Only a single grapheme larger than the limit
/// (a pathological stack of combining marks) is broken between Unicode scalars, which is still valid UTF-8.
private func splitAtGraphemes(_ word: String, maxBytes: Int) -> [String] {
    var parts: [String] = []
    var current = ""
    for character in word {
        let size = character.utf8.count
        if size > maxBytes {
            if !current.isEmpty { parts.append(current) }
            current = ""
            var scalars = String.UnicodeScalarView()
            var scalarBytes = 0
            for scalar in character.unicodeScalars {
                let length = String(scalar).utf8.count
                if scalarBytes + length > maxBytes {
                    parts.append(String(scalars))
                    scalars = String.UnicodeScalarView()
                    scalarBytes = 0
                }
                scalars.append(scalar)
                scalarBytes += length
            }
            if !scalars.isEmpty { parts.append(String(scalars)) }
            continue
        }
        if current.utf8.count + size > maxBytes {
            parts.append(current)
            current = ""
        }
        current.append(character)
    }
    if !current.isEmpty { parts.append(current) }
    return parts
}
