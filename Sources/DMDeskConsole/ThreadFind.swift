import DMDeskCore
import Foundation

/// `/` in a conversation: what is looked for and which match is highlighted. The matches are worked out from the
/// loaded messages whenever they are needed, so a message that arrives while finding is found too.
struct ThreadFind: Equatable, Sendable {
    var thread: String
    var query: String
    /// The highlighted match's message id.
    var current: String?

    /// Where `query` occurs in `text`, ignoring case and accents ("cafe" finds "Café").
    static func ranges(of query: String, in text: String) -> [Range<String.Index>] {
        guard !query.isEmpty else { return [] }
        var found: [Range<String.Index>] = []
        var from = text.startIndex
        while from < text.endIndex,
              let match = text.range(of: query, options: [.caseInsensitive, .diacriticInsensitive], range: from..<text.endIndex)
        {
            found.append(match)
            from = match.upperBound > match.lowerBound ? match.upperBound : text.index(after: match.lowerBound)
        }
        return found
    }

    /// The text of a message that finding looks at: what was written and the titles of what was shared.
    static func searchableText(_ message: MessageView) -> [String] {
        guard !message.deleted else { return [] }
        return [message.text].compactMap { $0 } + message.attachments.compactMap(\.title)
    }

    func matches(_ message: MessageView) -> Bool {
        Self.searchableText(message).contains { !Self.ranges(of: query, in: $0).isEmpty }
    }

    /// Ids of the messages that match, oldest first.
    func matchIDs(in messages: [MessageView]) -> [String] {
        messages.filter(matches).map(\.id)
    }
}
