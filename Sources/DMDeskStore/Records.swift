import DMDeskCore
import Foundation

// One record per table, engine-neutral: plain Codable values whose property names are the SQL columns. Columns with
// a fixed set of values are Swift enums (their raw values are what the column holds). How the SQLite engine reads
// and writes them (by column name) is in SQLiteRecords.swift.

public struct ProfileRecord: Codable, Sendable, Equatable {
    public var id: String
    public var username: String?
    public var name: String?
    public var picture: String?
    public var connected: Bool
    public var connected_at: EpochMillis?
    public var profile_fetched_at: EpochMillis?
    public var created_at: EpochMillis
    public var updated_at: EpochMillis
}

public struct ThreadRecord: Codable, Sendable, Equatable {
    public var id: String
    public var mode: ThreadMode
    public var status: ThreadStatus
    public var assignee: String?
    public var unread: Int
    public var awaiting_operator: Bool
    public var last_inbound_at: EpochMillis?
    public var last_message_at: EpochMillis?
    public var last_text: String?
    public var created_at: EpochMillis
    public var updated_at: EpochMillis
    /// Snoozed: when it comes back (NULL: when the customer writes). Migration v11.
    public var snoozed_until: EpochMillis? = nil
    /// When the last snooze ended, until the thread is read (the list marks it).
    public var snooze_ended_at: EpochMillis? = nil
}

/// Where a stored message came from: a webhook's `messaging`, `standby` or `changes` list, or dmdesk itself (a line
/// for something we send).
public enum MessageSource: String, Codable, Sendable, CaseIterable {
    case messaging, standby, changes, dmdesk
    /// Pulled from Meta's Conversations API by `dmdesk sync` (never delivered by webhook); never answered by the bot.
    case sync

    public init(_ source: WebhookEventSource) {
        switch source {
        case .messaging: self = .messaging
        case .standby: self = .standby
        case .changes: self = .changes
        }
    }
}

public struct MessageRecord: Codable, Sendable, Equatable {
    public var mid: String
    public var thread_id: String
    public var direction: MessageDirection
    public var author: MessageAuthor
    public var text: String?
    public var attachments: String?
    public var reply_to_mid: String?
    public var reply_to_story: String?
    public var payload: String?
    public var timestamp: EpochMillis
    public var source: MessageSource
    /// The reply processor's state of an inbound message; nil for our own lines.
    public var status: ProcessingStatus?
    public var attempts: Int
    public var next_attempt_at: EpochMillis?
    public var error: String?
    public var reactions: String?
    public var read: Bool
    public var deleted: Bool
    public var edited: Bool
    public var outbound_id: Int64?
    /// For our own lines: their outbox row's status as people see it.
    public var delivery: OutboundStatus?
    public var remote_mid: String?
    public var created_at: EpochMillis
    /// Set for inbound messages since migration v4.
    public var kind: MessageKind?

    public var attachmentList: [Attachment] {
        attachments.flatMap { try? JSONDecoder().decode([Attachment].self, from: Data($0.utf8)) } ?? []
    }

    /// The row as the socket shows it; `quote` is the replied-to message's text, looked up by the caller.
    public func view(quote: ReplyQuote? = nil) -> MessageView {
        let atts = attachmentList
        let reacts = reactions.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
        let kind = direction == .inbound
            ? (self.kind ?? MessageKind.of(attachments: atts, storyReply: reply_to_story != nil, quickReplyPayload: payload))
            : self.kind
        return MessageView(
            id: mid, thread: thread_id, mid: direction == .inbound ? mid : (remote_mid ?? (mid.hasPrefix("out:") ? nil : mid)),
            direction: direction, author: author, text: text, attachments: atts, timestamp: timestamp, delivery: delivery,
            error: error, reactions: reacts, replyToStory: reply_to_story, deleted: deleted, edited: edited,
            outboundId: outbound_id, kind: kind, replyToMid: reply_to_mid, replyToText: quote?.text,
            replyToUnsent: quote?.unsent == true ? true : nil, payload: payload, synced: source == .sync ? true : nil)
    }

    public var view: MessageView { view() }
}

/// What a reply shows of the message it answers.
public struct ReplyQuote: Sendable, Equatable {
    public var text: String?
    public var unsent: Bool
}

public struct OutboundRecord: Codable, Sendable, Equatable {
    /// An outbox row's state. `sending` is committed before the row's Graph call, so a row found `sending` after a
    /// crash may or may not have reached Meta (see `OutboxWorker`'s reconciliation); views show it as pending.
    public enum Status: String, Codable, Sendable, CaseIterable {
        case pending, sending, sent, failed

        /// As subscribers and the console see it.
        public var view: OutboundStatus {
            switch self {
            case .pending, .sending: return .pending
            case .sent: return .sent
            case .failed: return .failed
            }
        }
    }

    public var id: Int64?
    public var thread_id: String?
    public var recipient: String
    public var kind: OutboundKind
    public var channel: OutboundChannel
    public var payload: String
    public var text: String?
    public var status: Status
    public var attempts: Int
    public var remote_message_id: String?
    public var error: String?
    public var author: MessageAuthor
    public var message_mid: String?
    public var created_at: EpochMillis
    public var updated_at: EpochMillis
    /// When the row was marked `sending`.
    public var sending_at: EpochMillis?
    /// Media sent by URL (`message.attachment`) instead of a text; both nil for texts.
    public var attachment_type: AttachmentKind?
    public var attachment_url: String?

    /// The media this row sends, if it is not a text.
    public var attachment: OutgoingAttachment? {
        guard let attachment_type, let attachment_url else { return nil }
        return OutgoingAttachment(type: attachment_type, url: attachment_url)
    }

    public var view: OutboundView {
        OutboundView(
            id: id ?? 0, thread: thread_id, kind: kind, channel: channel, status: status.view, text: text, attempts: attempts,
            error: error, remoteId: remote_message_id, author: author, createdAt: created_at, attachment: attachment)
    }
}

public struct RuleRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var pattern: String
    public var match_kind: RuleMatchKind
    public var reply: String?
    public var priority: Int
    public var active: Bool
    public var action: RuleAction
    public var created_at: EpochMillis
    /// What the rule answers: messages (nil, the default) or comments (a private reply), since migration v7.
    public var scope: RuleScope?

    public init(
        pattern: String, matchKind: RuleMatchKind, reply: String?, priority: Int, active: Bool = true, action: RuleAction,
        scope: RuleScope? = nil
    ) {
        self.scope = scope == .messages ? nil : scope
        self.pattern = pattern
        self.match_kind = matchKind
        self.reply = reply
        self.priority = priority
        self.active = active
        self.action = action
        self.created_at = nowMillis()
    }
}

public struct VerificationTokenRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var token_hash: String
    public var ig_id: String
    public var expires_at: EpochMillis
    public var consumed_at: EpochMillis?
    public var event_id: String?
    public var created_at: EpochMillis
}

public struct AgentStepRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var thread_id: String
    public var batch: String
    public var kind: AgentStepKind
    public var tool: String?
    public var arguments: String?
    public var result: String?
    public var ok: Bool
    public var latency_ms: Int?
    public var prompt_tokens: Int?
    public var completion_tokens: Int?
    public var at: EpochMillis

    public var view: AgentStepView {
        AgentStepView(
            id: id ?? 0, thread: thread_id, batch: batch, kind: kind, tool: tool, arguments: arguments, result: result,
            ok: ok, latencyMs: latency_ms, promptTokens: prompt_tokens, completionTokens: completion_tokens, at: at)
    }
}

public struct EventRecord: Codable, Sendable, Equatable {
    public var seq: Int64
    public var type: String
    public var thread_id: String?
    public var payload: String
    public var at: EpochMillis

    public var journalEvent: JournalEvent {
        JournalEvent(
            seq: seq, type: type, thread: thread_id, data: (try? JSONValue.parse(Data(payload.utf8))) ?? .null, at: at)
    }
}
