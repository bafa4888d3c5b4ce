import Foundation

/// A comment under one of the account's posts, as the `comments` webhook field delivers it (`entry[].changes[]`
/// with `field: "comments"`): the comment's id, its text, who wrote it and the media it is on.
public struct CommentEvent: Sendable, Equatable {
    /// The comment's id: what a private reply's `recipient.comment_id` and a public reply's path name.
    public var id: String
    public var text: String?
    /// The commenter's Instagram-scoped id: a private reply continues as a DM thread with them.
    public var fromId: String
    public var fromUsername: String?
    public var mediaId: String?
    /// `FEED`, `REELS`, `AD`, … as Meta names it.
    public var mediaProductType: String?
    /// Set when the comment answers another comment.
    public var parentId: String?

    public init(
        id: String, text: String?, fromId: String, fromUsername: String?, mediaId: String?, mediaProductType: String?,
        parentId: String?
    ) {
        self.id = id
        self.text = text
        self.fromId = fromId
        self.fromUsername = fromUsername
        self.mediaId = mediaId
        self.mediaProductType = mediaProductType
        self.parentId = parentId
    }
}

/// How a comment has been answered.
public enum CommentAnswer: String, Codable, Sendable, CaseIterable {
    /// Not yet.
    case none
    /// A private reply (a DM through `recipient.comment_id`) is queued or sent.
    case `private`
    /// A public reply (`POST /{comment-id}/replies`) is queued or sent.
    case `public`
    /// Both.
    case both
}

/// A stored comment as the socket, `dmdesk comments --json` and the console show it.
public struct CommentView: Codable, Sendable, Equatable {
    public var id: String
    public var text: String?
    public var fromId: String
    public var fromUsername: String?
    public var mediaId: String?
    public var mediaProductType: String?
    public var parentId: String?
    /// When the comment was made (the delivery's time), in milliseconds.
    public var timestamp: EpochMillis
    /// The private reply's outbox row, when there is one, and its delivery.
    public var privateReplyOutboundId: Int64?
    public var privateReplyStatus: OutboundStatus?
    public var publicReplyOutboundId: Int64?
    public var publicReplyStatus: OutboundStatus?
    /// Meta's id of the public reply, once sent.
    public var publicReplyId: String?

    public init(
        id: String, text: String?, fromId: String, fromUsername: String?, mediaId: String?, mediaProductType: String?,
        parentId: String?, timestamp: EpochMillis, privateReplyOutboundId: Int64? = nil,
        privateReplyStatus: OutboundStatus? = nil, publicReplyOutboundId: Int64? = nil,
        publicReplyStatus: OutboundStatus? = nil, publicReplyId: String? = nil
    ) {
        self.id = id
        self.text = text
        self.fromId = fromId
        self.fromUsername = fromUsername
        self.mediaId = mediaId
        self.mediaProductType = mediaProductType
        self.parentId = parentId
        self.timestamp = timestamp
        self.privateReplyOutboundId = privateReplyOutboundId
        self.privateReplyStatus = privateReplyStatus
        self.publicReplyOutboundId = publicReplyOutboundId
        self.publicReplyStatus = publicReplyStatus
        self.publicReplyId = publicReplyId
    }

    /// A reply that failed for good does not count: the comment may be answered again that way.
    public var answeredPrivately: Bool { privateReplyOutboundId != nil && privateReplyStatus != .failed }
    public var answeredPublicly: Bool { publicReplyOutboundId != nil && publicReplyStatus != .failed }

    public var answer: CommentAnswer {
        switch (answeredPrivately, answeredPublicly) {
        case (false, false): return .none
        case (true, false): return .private
        case (false, true): return .public
        case (true, true): return .both
        }
    }
}

/// Meta's limits on answering a comment, checked by dmdesk before it calls Meta.
public enum CommentReplyPolicy {
    /// Meta allows a private reply within 7 days of the comment.
    public static let privateReplyWindowMillis: EpochMillis = 7 * 86_400_000
}

/// Why dmdesk will not answer a comment as asked; each says what went wrong and what to do.
public enum CommentReplyRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownComment(String)
    case alreadyRepliedPrivately(commentId: String)
    case tooOldForPrivateReply(commentId: String, ageDays: Int)
    case emptyText

    public var description: String {
        switch self {
        case .unknownComment(let id):
            return "no comment \(id) is stored; list them with `dmdesk comments`"
        case .alreadyRepliedPrivately(let id):
            return "comment \(id) already has a private reply (Meta allows one per comment); continue in the DM thread, or reply publicly with --public"
        case .tooOldForPrivateReply(let id, let days):
            return "comment \(id) is \(days) days old; private replies are allowed within 7 days — reply publicly with --public"
        case .emptyText:
            return "the reply text is empty; give the text to send"
        }
    }
}

extension WebhookParser {
    /// A `comments` change's value: `{id, text, from: {id, username}, media: {id, media_product_type}, parent_id}`.
    static func comment(_ value: JSONValue) throws(Invalid) -> CommentEvent {
        guard value.objectValue != nil else { throw Invalid("comment value is not a JSON object") }
        return CommentEvent(
            id: try requiredId(value["id"], "comment.id"),
            text: try optionalText(value["text"], "comment.text"),
            fromId: try requiredId(value["from"]?["id"], "comment.from.id"),
            fromUsername: text(value["from"]?["username"]),
            mediaId: lenientId(value["media"]?["id"]),
            mediaProductType: text(value["media"]?["media_product_type"]),
            parentId: lenientId(value["parent_id"]))
    }

    /// The event for a `comments` change: its commenter is the sender; a broken one is `.invalid` on its own.
    static func commentEvent(_ change: JSONValue, value: JSONValue, accountId: String, now: EpochMillis) -> WebhookEvent {
        // Meta's `changes` carry the entry's `time` (seconds), not a timestamp per change; the test form sends none.
        let timestamp = normalizeTimestamp(value["timestamp"], now: now) ?? now
        do throws(Invalid) {
            let c = try comment(value)
            return WebhookEvent(
                accountId: accountId, senderId: c.fromId, recipientId: accountId, timestamp: timestamp, source: .changes,
                kind: .comment(c), raw: change)
        } catch {
            return WebhookEvent(
                accountId: accountId, senderId: (try? optionalId(value["from"]?["id"], "")) ?? nil ?? "", recipientId: "",
                timestamp: timestamp, source: .changes, kind: .invalid(error.reason), raw: change)
        }
    }
}
