import Foundation

/// Milliseconds since the Unix epoch, the unit Meta's `messaging` timestamps use.
public typealias EpochMillis = Int64

public func nowMillis() -> EpochMillis { EpochMillis((Date().timeIntervalSince1970 * 1000).rounded()) }

public enum ThreadMode: String, Codable, Sendable, CaseIterable {
    case auto, human
}

public enum ThreadStatus: String, Codable, Sendable, CaseIterable {
    case open, resolved, snoozed
}

public enum MessageDirection: String, Codable, Sendable {
    case inbound = "in"
    case outbound = "out"
}

/// Who wrote a line of a conversation; the console styles each differently.
public enum MessageAuthor: String, Codable, Sendable {
    case customer, bot, `operator`, system
}

public enum ProcessingStatus: String, Codable, Sendable {
    case pending, processing, processed, failed
}

public enum OutboundKind: String, Codable, Sendable, CaseIterable {
    case autoReply = "auto_reply"
    case manual
    case verification
    case acknowledgement
    case reaction
    case managerNotification = "manager_notification"
    /// A private reply to a comment: a DM sent with `recipient.comment_id` (the row's recipient is the comment id).
    case privateReply = "private_reply"
    /// A public reply under a comment (`POST /{comment-id}/replies`; the row's recipient is the comment id).
    case commentReply = "comment_reply"
}

public enum OutboundStatus: String, Codable, Sendable {
    case pending, sent, failed
}

public enum OutboundChannel: String, Codable, Sendable {
    case instagram, whatsapp
}

public struct Attachment: Codable, Sendable, Equatable {
    /// Meta's `attachments[].type`: image, video, audio, file, ig_reel, ig_post, share, story_mention, or a newer one.
    public var type: String
    public var url: String?
    /// `payload.title`: a shared post's or reel's caption.
    public var title: String?
    public init(type: String, url: String?, title: String? = nil) {
        self.type = type
        self.url = url
        self.title = title
    }
}

/// What a received message is, for its label in the console and in `history --json`.
public enum MessageKind: String, Codable, Sendable, CaseIterable {
    case text, image, video, audio, file
    case igReel = "ig_reel", igPost = "ig_post", share
    case storyMention = "story_mention", storyReply = "story_reply"
    case quickReply = "quick_reply", postback, unsupported
    /// An attachment type Meta added after this build.
    case other

    /// Stories vanish after 24 hours; Meta's rule is that their media is never copied, only linked.
    public static let storyLifetimeMillis: EpochMillis = 86_400_000

    /// The kind of an inbound message from its parts. A post shared since November 2025 carries both a `share` and
    /// an `ig_post` attachment: it is an `ig_post`.
    public static func of(
        attachments: [Attachment], storyReply: Bool, quickReplyPayload: String?, isPostback: Bool = false,
        isUnsupported: Bool = false
    ) -> MessageKind {
        if isUnsupported { return .unsupported }
        if isPostback { return .postback }
        if storyReply { return .storyReply }
        let types = attachments.map(\.type)
        if types.contains("ig_post") { return .igPost }
        if let first = types.first { return MessageKind(rawValue: first).flatMap { $0.isAttachment ? $0 : nil } ?? .other }
        return quickReplyPayload != nil ? .quickReply : .text
    }

    /// Kinds that are an attachment type of Meta's.
    public var isAttachment: Bool {
        switch self {
        case .image, .video, .audio, .file, .igReel, .igPost, .share, .storyMention: return true
        default: return false
        }
    }

    public var isStory: Bool { self == .storyMention || self == .storyReply }

    /// A thread list's one-line preview of a message: its text, else what it is ("[photo]").
    public static func preview(text: String?, attachments: [Attachment], kind: MessageKind?) -> String? {
        if let text, !text.isEmpty { return text }
        if let first = attachments.first { return "[\(label(forAttachmentType: first.type))]" }
        if kind == .unsupported { return "[unsupported message]" }
        return nil
    }

    /// The label the console and previews show for an attachment of this Meta type.
    public static func label(forAttachmentType type: String) -> String {
        switch type {
        case "image": return "photo"
        case "video": return "video"
        case "audio": return "voice message"
        case "file": return "file"
        case "ig_reel": return "reel"
        case "ig_post": return "post"
        case "share": return "shared post"
        case "story_mention": return "story mention"
        default: return type
        }
    }
}

/// Shown in place of an unsent message, and as the thread's preview when it was the last one.
public let unsentMessageLabel = "message unsent"

/// One row of the thread list, as the socket and the console see it.
public struct ThreadSummary: Codable, Sendable, Equatable {
    public var id: String
    public var username: String?
    public var name: String?
    public var mode: ThreadMode
    public var status: ThreadStatus
    public var assignee: String?
    public var unread: Int
    public var awaitingOperator: Bool
    public var lastText: String?
    public var lastAt: EpochMillis?
    public var lastInboundAt: EpochMillis?
    public var connected: Bool
    /// Snoozed (`status` is `snoozed`): when it comes back; nil means when the customer next writes.
    public var snoozedUntil: EpochMillis?
    /// When a snooze last ended (its time came, or the customer wrote): the list marks the thread until it is read.
    public var snoozeEndedAt: EpochMillis?

    public init(
        id: String, username: String? = nil, name: String? = nil, mode: ThreadMode = .auto, status: ThreadStatus = .open,
        assignee: String? = nil, unread: Int = 0, awaitingOperator: Bool = false, lastText: String? = nil,
        lastAt: EpochMillis? = nil, lastInboundAt: EpochMillis? = nil, connected: Bool = false,
        snoozedUntil: EpochMillis? = nil, snoozeEndedAt: EpochMillis? = nil
    ) {
        self.snoozedUntil = snoozedUntil
        self.snoozeEndedAt = snoozeEndedAt
        self.id = id
        self.username = username
        self.name = name
        self.mode = mode
        self.status = status
        self.assignee = assignee
        self.unread = unread
        self.awaitingOperator = awaitingOperator
        self.lastText = lastText
        self.lastAt = lastAt
        self.lastInboundAt = lastInboundAt
        self.connected = connected
    }

    /// "Name", else "@username", else the raw id: people see names, not ids, where Meta told us one.
    public var displayName: String {
        if let name, !name.isEmpty { return name }
        if let username, !username.isEmpty { return "@" + username }
        return id
    }

    /// Milliseconds left in Meta's 24-hour standard messaging window, or nil when it has closed.
    public func windowRemaining(now: EpochMillis = nowMillis()) -> EpochMillis? {
        guard let lastInboundAt else { return nil }
        // Overflow-safe: a timestamp from elsewhere (an old journal, a script) can be any Int64.
        let (end, endOverflows) = lastInboundAt.addingReportingOverflow(86_400_000)
        if endOverflows { return .max }
        let (left, leftOverflows) = end.subtractingReportingOverflow(now)
        if leftOverflows { return end > now ? .max : nil }
        return left > 0 ? left : nil
    }
}

/// One line of a conversation: an inbound message, or something we (bot, operator) sent.
public struct MessageView: Codable, Sendable, Equatable {
    /// Stable key: the Instagram `mid`, or `out:<outbox id>` for our own messages.
    public var id: String
    public var thread: String
    public var mid: String?
    public var direction: MessageDirection
    public var author: MessageAuthor
    public var text: String?
    public var attachments: [Attachment]
    public var timestamp: EpochMillis
    /// For our own messages: pending, sent or failed.
    public var delivery: OutboundStatus?
    public var error: String?
    public var reactions: [String]
    public var replyToStory: String?
    /// Unsent by the customer: text and attachments are erased everywhere.
    public var deleted: Bool
    public var edited: Bool
    public var outboundId: Int64?
    /// Nil in journal rows older than the kinds (read as `.text`).
    public var kind: MessageKind?
    /// The message this one answers (`reply_to.mid`), and its text when dmdesk has it (nil once that one is unsent).
    public var replyToMid: String?
    public var replyToText: String?
    /// The replied-to message was unsent.
    public var replyToUnsent: Bool?
    /// A quick reply's or a button's payload.
    public var payload: String?
    /// Pulled in by `dmdesk sync` (Meta's Conversations API), not delivered by webhook; nil otherwise.
    public var synced: Bool?

    public init(
        id: String, thread: String, mid: String? = nil, direction: MessageDirection, author: MessageAuthor,
        text: String?, attachments: [Attachment] = [], timestamp: EpochMillis, delivery: OutboundStatus? = nil,
        error: String? = nil, reactions: [String] = [], replyToStory: String? = nil, deleted: Bool = false,
        edited: Bool = false, outboundId: Int64? = nil, kind: MessageKind? = nil, replyToMid: String? = nil,
        replyToText: String? = nil, replyToUnsent: Bool? = nil, payload: String? = nil, synced: Bool? = nil
    ) {
        self.synced = synced
        self.id = id
        self.thread = thread
        self.mid = mid
        self.direction = direction
        self.author = author
        self.text = text
        self.attachments = attachments
        self.timestamp = timestamp
        self.delivery = delivery
        self.error = error
        self.reactions = reactions
        self.replyToStory = replyToStory
        self.deleted = deleted
        self.edited = edited
        self.outboundId = outboundId
        self.kind = kind
        self.replyToMid = replyToMid
        self.replyToText = replyToText
        self.replyToUnsent = replyToUnsent
        self.payload = payload
    }

    /// When the story this message links to (a reply to it, or a mention in it) is gone: 24 hours after the
    /// message at the latest. Nil for messages about no story.
    public var storyExpiresAt: EpochMillis? {
        guard kind?.isStory == true || replyToStory != nil else { return nil }
        return timestamp.addingReportingOverflow(MessageKind.storyLifetimeMillis).overflow
            ? .max : timestamp + MessageKind.storyLifetimeMillis
    }
}

/// An outbox row as subscribers see it (`outbound.updated`).
public struct OutboundView: Codable, Sendable, Equatable {
    public var id: Int64
    public var thread: String?
    public var kind: OutboundKind
    public var channel: OutboundChannel
    public var status: OutboundStatus
    public var text: String?
    public var attempts: Int
    public var error: String?
    public var remoteId: String?
    public var author: MessageAuthor
    public var createdAt: EpochMillis
    /// Media sent by URL instead of a text.
    public var attachment: OutgoingAttachment?

    public init(
        id: Int64, thread: String?, kind: OutboundKind, channel: OutboundChannel, status: OutboundStatus, text: String?,
        attempts: Int, error: String?, remoteId: String?, author: MessageAuthor, createdAt: EpochMillis,
        attachment: OutgoingAttachment? = nil
    ) {
        self.id = id
        self.thread = thread
        self.kind = kind
        self.channel = channel
        self.status = status
        self.text = text
        self.attempts = attempts
        self.error = error
        self.remoteId = remoteId
        self.author = author
        self.createdAt = createdAt
        self.attachment = attachment
    }
}

/// What the daemon reports about itself: `/health`, the `daemon.status` event and the console's status bar.
public struct DaemonStatus: Codable, Sendable, Equatable {
    public var listener: String
    public var sqlite: String
    public var redis: String
    public var redisError: String?
    public var token: String
    /// Meta's refusal while the token is invalid (the console's banner).
    public var tokenError: String?
    public var threads: Int
    public var messages: Int
    public var pendingOutbound: Int
    public var uptimeSeconds: Int
    /// "open" or "closed" under `DMDESK_BUSINESS_HOURS`; nil when none are set.
    public var businessHours: String?
    /// When the last signed webhook delivery was accepted (nil: never), and whether webhooks look healthy
    /// (`WebhookHealthReport`: "ok", "never", "silent", "failing"); `webhookWarning` says why when failing.
    public var lastWebhookAt: EpochMillis?
    public var webhooks: String?
    public var webhookWarning: String?

    public init(
        listener: String, sqlite: String, redis: String, redisError: String?, token: String, tokenError: String? = nil,
        threads: Int, messages: Int, pendingOutbound: Int, uptimeSeconds: Int, businessHours: String? = nil
    ) {
        self.tokenError = tokenError
        self.businessHours = businessHours
        self.listener = listener
        self.sqlite = sqlite
        self.redis = redis
        self.redisError = redisError
        self.token = token
        self.threads = threads
        self.messages = messages
        self.pendingOutbound = pendingOutbound
        self.uptimeSeconds = uptimeSeconds
    }
}

/// Instagram's Send API and the console both count this limit in UTF-8 bytes.
public let maxMessageBytes = 1000

extension Duration {
    /// Whole and fractional seconds (also a `TimeInterval`).
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Whole nanoseconds (for NIO's `TimeAmount`).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, rounded down.
    public var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
