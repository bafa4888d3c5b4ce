import DMDeskCore

/// http(s) URLs in message text, for OSC 8 links and the `o` list. Only printable ASCII runs count (the same rule
/// as `Hyperlink.target`), and the punctuation a sentence puts after a URL is not part of it.
enum LinkFinder {
    /// The URLs' ranges in `text`, in order.
    static func ranges(in text: String) -> [Range<String.Index>] {
        var found: [Range<String.Index>] = []
        var searchFrom = text.startIndex
        while let scheme = nextScheme(in: text, from: searchFrom) {
            var end = scheme.upperBound
            while end < text.endIndex, let ascii = text[end].asciiValue, (0x21...0x7E).contains(ascii), !"<>\"`".contains(text[end]) {
                end = text.index(after: end)
            }
            end = trimmedEnd(text, start: scheme.lowerBound, end: end)
            if end > scheme.upperBound { found.append(scheme.lowerBound..<end) }
            searchFrom = max(end, scheme.upperBound)
        }
        return found
    }

    /// The URLs in `text`, as strings that pass `Hyperlink.target`.
    static func urls(in text: String) -> [String] {
        ranges(in: text).map { String(text[$0]) }.filter { Hyperlink.target(for: $0) != nil }
    }

    /// The next "http://" or "https://" that starts a word (not the tail of "xhttp://").
    private static func nextScheme(in text: String, from start: String.Index) -> Range<String.Index>? {
        var from = start
        while let match = text.range(of: "http", options: .caseInsensitive, range: from..<text.endIndex) {
            from = match.upperBound
            if match.lowerBound > text.startIndex, let before = text[text.index(before: match.lowerBound)].asciiValue,
               before.isLetterOrDigit
            { continue }
            var rest = match.upperBound
            if rest < text.endIndex, text[rest] == "s" || text[rest] == "S" { rest = text.index(after: rest) }
            guard text[rest...].hasPrefix("://") else { continue }
            return match.lowerBound..<text.index(rest, offsetBy: 3)
        }
        return nil
    }

    /// Drops closing punctuation after a URL ("see https://x.example/a." or "(https://x.example/a)"), keeping a
    /// closing bracket that the URL itself opened (Wikipedia's "…_(disambiguation)").
    private static func trimmedEnd(_ text: String, start: String.Index, end: String.Index) -> String.Index {
        var end = end
        while end > start {
            let last = text[text.index(before: end)]
            let url = text[start..<end]
            if ".,;:!?'*".contains(last) {
                end = text.index(before: end)
            } else if let open = ["(": ")", "[": "]", "{": "}"].first(where: { $0.value == String(last) })?.key,
                      url.filter({ String($0) == open }).count < url.filter({ $0 == last }).count
            {
                end = text.index(before: end)
            } else {
                break
            }
        }
        return end
    }
}

private extension UInt8 {
    var isLetterOrDigit: Bool { (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
}
