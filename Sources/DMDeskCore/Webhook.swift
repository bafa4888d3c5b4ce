import Foundation

/// Where in a delivery an event sat: `entry[].messaging[]`, `entry[].standby[]` (another app owns the thread) or
/// `entry[].changes[]` (the App Dashboard's test form).
public enum WebhookEventSource: String, Sendable, Codable {
    case messaging, standby, changes
}

public struct InboundMessage: Sendable, Equatable {
    public var mid: String
    public var text: String?
    public var attachments: [Attachment]
    public var replyToMid: String?
    public var replyToStoryURL: String?
    public var replyToStoryId: String?
    public var quickReplyPayload: String?
    public var isEcho: Bool
    public var isDeleted: Bool
    public var isUnsupported: Bool
}

public struct ReactionEvent: Sendable, Equatable {
    public var mid: String
    public var action: String
    /// Meta's reaction name ("love"); nil on unreact.
    public var reaction: String?
    public var emoji: String?
}

public struct PostbackEvent: Sendable, Equatable {
    public var mid: String
    public var title: String?
    public var payload: String?
}

public struct MessageEdit: Sendable, Equatable {
    public var mid: String
    public var text: String?
    public var editCount: Int
}

public enum WebhookEventKind: Sendable, Equatable {
    case message(InboundMessage)
    case reaction(ReactionEvent)
    case read(mid: String?, watermark: EpochMillis?)
    case postback(PostbackEvent)
    case edit(MessageEdit)
    /// A kind we do not understand: kept raw in the journal, never silently dropped.
    case unknown(String)
}

public struct WebhookEvent: Sendable, Equatable {
    public var accountId: String
    public var senderId: String
    public var recipientId: String
    public var timestamp: EpochMillis
    public var source: WebhookEventSource
    public var kind: WebhookEventKind
    public var raw: JSONValue

    /// The customer this event belongs to: for our own echoes the recipient, otherwise the sender.
    public var customerId: String {
        if case .message(let m) = kind, m.isEcho { return recipientId }
        return senderId
    }
}

public enum WebhookParseError: Error, Equatable, CustomStringConvertible {
    case notJSON(String)
    case notAnObject
    case missingEntries

    public var description: String {
        switch self {
        case .notJSON(let why): return "body is not valid JSON: \(why)"
        case .notAnObject: return "body is not a JSON object"
        case .missingEntries: return "body has no entry array"
        }
    }
}

public struct WebhookDelivery: Sendable {
    /// The `object` field; only `instagram` deliveries carry events we handle.
    public var object: String?
    public var events: [WebhookEvent]
}

public enum WebhookParser {
    public static func parse(_ body: Data) throws(WebhookParseError) -> WebhookDelivery {
        let root: JSONValue
        do { root = try JSONValue.parse(body) } catch {
            throw .notJSON(Self.shortReason(error))
        }
        return try parse(root)
    }

    /// The listener's entry point: reads the body with `FastJSONReader` (no copy, no JSONDecoder); anything it
    /// does not take goes through `parse(Data)`, so the result and the error messages are the same either way.
    public static func parse(bytes: UnsafeRawBufferPointer) throws(WebhookParseError) -> WebhookDelivery {
        if let root = try? FastJSONReader.parse(bytes) { return try parse(root) }
        return try parse(Data(bytes))
    }

    public static func parse(_ root: JSONValue) throws(WebhookParseError) -> WebhookDelivery {
        guard case .object = root else { throw .notAnObject }
        let object = root["object"]?.stringValue
        guard object == "instagram" else { return WebhookDelivery(object: object, events: []) }
        guard let entries = root["entry"]?.arrayValue else { throw .missingEntries }
        var events: [WebhookEvent] = []
        for entry in entries {
            let accountId = entry["id"]?.idString ?? ""
            for item in entry["messaging"]?.arrayValue ?? [] {
                events.append(event(item, accountId: accountId, source: .messaging))
            }
            for item in entry["standby"]?.arrayValue ?? [] {
                events.append(event(item, accountId: accountId, source: .standby))
            }
            for change in entry["changes"]?.arrayValue ?? [] {
                guard let value = change["value"] else { continue }
                if change["field"]?.stringValue == "messages" || change["field"]?.stringValue == "messaging" {
                    events.append(event(value, accountId: accountId, source: .changes))
                } else {
                    var e = event(value, accountId: accountId, source: .changes)
                    e.kind = .unknown("changes." + (change["field"]?.stringValue ?? "?"))
                    e.raw = change
                    events.append(e)
                }
            }
        }
        return WebhookDelivery(object: object, events: events)
    }

    static func event(_ item: JSONValue, accountId: String, source: WebhookEventSource) -> WebhookEvent {
        let sender = item["sender"]?["id"]?.idString ?? ""
        let recipient = item["recipient"]?["id"]?.idString ?? ""
        let timestamp = normalizeTimestamp(item["timestamp"]) ?? nowMillis()
        return WebhookEvent(
            accountId: accountId, senderId: sender, recipientId: recipient, timestamp: timestamp, source: source,
            kind: kind(of: item), raw: item)
    }

    static func kind(of item: JSONValue) -> WebhookEventKind {
        if let m = item["message"], let mid = m["mid"]?.idString {
            let attachments = (m["attachments"]?.arrayValue ?? []).map { a in
                Attachment(type: a["type"]?.stringValue ?? "file", url: a["payload"]?["url"]?.stringValue)
            }
            return .message(
                InboundMessage(
                    mid: mid, text: m["text"]?.stringValue, attachments: attachments,
                    replyToMid: m["reply_to"]?["mid"]?.idString,
                    replyToStoryURL: m["reply_to"]?["story"]?["url"]?.stringValue,
                    replyToStoryId: m["reply_to"]?["story"]?["id"]?.idString,
                    quickReplyPayload: m["quick_reply"]?["payload"]?.stringValue,
                    isEcho: m["is_echo"]?.boolValue ?? false,
                    isDeleted: m["is_deleted"]?.boolValue ?? false,
                    isUnsupported: m["is_unsupported"]?.boolValue ?? false))
        }
        if let r = item["reaction"], let mid = r["mid"]?.idString {
            let action = r["action"]?.stringValue ?? "react"
            return .reaction(
                ReactionEvent(
                    mid: mid, action: action, reaction: action == "unreact" ? nil : (r["reaction"]?.stringValue ?? "love"),
                    emoji: r["emoji"]?.stringValue))
        }
        if let r = item["read"] {
            return .read(mid: r["mid"]?.idString, watermark: normalizeTimestamp(r["watermark"]))
        }
        if let p = item["postback"] {
            return .postback(
                PostbackEvent(
                    mid: p["mid"]?.idString ?? "postback.\(item["timestamp"]?.idString ?? "")",
                    title: p["title"]?.stringValue, payload: p["payload"]?.stringValue))
        }
        if let e = item["message_edit"], let mid = e["mid"]?.idString {
            return .edit(MessageEdit(mid: mid, text: e["text"]?.stringValue, editCount: Int(e["num_edit"]?.doubleValue ?? 1)))
        }
        let known = Set(["sender", "recipient", "timestamp"])
        let name = item.objectValue?.keys.filter { !known.contains($0) }.sorted().first ?? "empty"
        return .unknown(name)
    }

    /// `messaging` timestamps are milliseconds; the dashboard's test form sends a string of seconds.
    static func normalizeTimestamp(_ value: JSONValue?) -> EpochMillis? {
        guard let n = value?.doubleValue, n.isFinite, n > 0 else { return nil }
        return n < 100_000_000_000 ? EpochMillis(n * 1000) : EpochMillis(n)
    }

    static func shortReason(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let ctx) = error { return ctx.debugDescription }
        return "malformed JSON"
    }
}
