import DMDeskCore

/// A link in the open conversation, for the `o` list.
struct ThreadLink: Equatable, Sendable {
    var url: String
    /// What it is: "link" for one written in a message, else the attachment's kind ("photo", "story", …).
    var kind: String
    var author: MessageAuthor
    var timestamp: EpochMillis
}

/// `o`: the open thread's links, newest first and each once, numbered for copying (OSC 52).
struct LinkList: Equatable, Sendable {
    var thread: String
    var links: [ThreadLink]
    var selected = 0

    var selectedLink: ThreadLink? { links.indices.contains(selected) ? links[selected] : nil }

    mutating func move(by delta: Int) {
        guard !links.isEmpty else { return }
        selected = max(0, min(links.count - 1, selected + delta))
    }

    /// Every link a message carries that passes `Hyperlink.target` (strict http(s), printable ASCII): the others are
    /// not offered, as they are not drawn as links.
    static func collect(thread: String, from messages: [MessageView], now: EpochMillis = nowMillis()) -> LinkList {
        var seen: Set<String> = []
        var links: [ThreadLink] = []
        for message in messages.reversed() where !message.deleted && !message.id.hasPrefix("step:") {
            var found: [(url: String, kind: String)] = LinkFinder.urls(in: message.text ?? "").map { ($0, "link") }
            let storyLive = message.storyExpiresAt.map { now < $0 } ?? true
            if let story = message.replyToStory, storyLive { found.append((story, "story")) }
            for attachment in message.attachments {
                guard let url = attachment.url else { continue }
                if attachment.type == "story_mention" && !storyLive { continue }
                found.append((url, MessageKind.label(forAttachmentType: attachment.type)))
            }
            for (url, kind) in found where Hyperlink.target(for: url) != nil && seen.insert(url).inserted {
                links.append(ThreadLink(url: url, kind: kind, author: message.author, timestamp: message.timestamp))
            }
        }
        return LinkList(thread: thread, links: links)
    }
}
