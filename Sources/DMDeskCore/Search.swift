/// A full-text search over messages: the user's words, optionally within one thread.
public struct MessageSearch: Sendable, Equatable {
    public var text: String
    public var thread: String?
    public var limit: Int

    public init(text: String, thread: String? = nil, limit: Int = 50) {
        self.text = text
        self.thread = thread
        self.limit = limit
    }

    /// The user's words as an FTS5 query: each a quoted string (quotes doubled), so nothing they type is FTS5 syntax
    /// and no syntax error can reach them; all must match, the last as a prefix (results while typing). Nil when
    /// there are no words.
    public static func fts5(_ text: String) -> String? {
        let words = text.split(whereSeparator: { $0.isWhitespace || $0 == "\u{0}" })
            .map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        guard !words.isEmpty else { return nil }
        return words.joined(separator: " ") + "*"
    }
}

/// One message a search found: where it is, who wrote it, and a snippet with the matches marked.
public struct SearchHit: Codable, Sendable, Equatable {
    /// A match within `snippet`, in Unicode scalars.
    public struct Range: Codable, Sendable, Equatable {
        public var start: Int
        public var length: Int
        public init(start: Int, length: Int) {
            self.start = start
            self.length = length
        }
    }

    public var mid: String
    public var thread: String
    public var direction: MessageDirection
    public var author: String
    public var timestamp: EpochMillis
    /// The customer's name and username, when known.
    public var name: String?
    public var username: String?
    /// Up to 16 words around the matches ("…" where text was left out).
    public var snippet: String
    public var highlights: [Range]

    public init(
        mid: String, thread: String, direction: MessageDirection, author: String, timestamp: EpochMillis, name: String?,
        username: String?, snippet: String, highlights: [Range]
    ) {
        self.mid = mid
        self.thread = thread
        self.direction = direction
        self.author = author
        self.timestamp = timestamp
        self.name = name
        self.username = username
        self.snippet = snippet
        self.highlights = highlights
    }
}
