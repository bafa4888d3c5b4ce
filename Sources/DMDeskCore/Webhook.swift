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
    /// A comment under one of the account's posts (`changes` with `field: comments`), see Comments.swift.
    case comment(CommentEvent)
    /// A kind we do not understand: kept raw in the journal, never silently dropped.
    case unknown(String)
    /// An event we understand but cannot store as what it claims to be (no sender, an id with U+0000, …): kept
    /// raw in the journal with the reason, while the valid events beside it are stored as usual.
    case invalid(String)
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

/// Turns a webhook body into events. Everything in it is untrusted: every id, number and string is checked on
/// the way in, and an event that fails a check becomes `.invalid(reason)` on its own — it never fails the events
/// beside it, and no conversion here can trap.
public enum WebhookParser {
    /// Ids longer than this are refused; Meta's longest (message ids) are under 200 bytes.
    public static let maxIdBytes = 1024
    /// How far ahead of our clock an event's timestamp may be before it is replaced by the time we received it.
    public static let maxClockSkewMillis: EpochMillis = 86_400_000

    public static func parse(_ body: Data, now: EpochMillis = nowMillis()) throws(WebhookParseError) -> WebhookDelivery {
        let root: JSONValue
        do { root = try JSONValue.parse(body, maxDepth: JSONReader.webhookMaxDepth) } catch {
            throw .notJSON(error.description)
        }
        return try parse(root, now: now)
    }

    /// The listener's entry point: reads the body in place, refusing nesting deeper than Meta ever sends.
    public static func parse(bytes: UnsafeRawBufferPointer, now: EpochMillis = nowMillis()) throws(WebhookParseError) -> WebhookDelivery {
        let root: JSONValue
        do { root = try JSONReader.parse(bytes, maxDepth: JSONReader.webhookMaxDepth) } catch {
            throw .notJSON(error.description)
        }
        return try parse(root, now: now)
    }

    public static func parse(_ root: JSONValue, now: EpochMillis = nowMillis()) throws(WebhookParseError) -> WebhookDelivery {
        guard case .object = root else { throw .notAnObject }
        let object = root["object"]?.stringValue
        guard object == "instagram" else { return WebhookDelivery(object: object, events: []) }
        guard let entries = root["entry"]?.arrayValue else { throw .missingEntries }
        var events: [WebhookEvent] = []
        for entry in entries {
            guard entry.objectValue != nil else {
                events.append(invalid(entry, "entry is not a JSON object", accountId: "", source: .messaging, now: now))
                continue
            }
            let accountId = (try? optionalId(entry["id"], "entry.id")) ?? nil ?? ""
            for source in [WebhookEventSource.messaging, .standby] {
                guard let list = entry[source.rawValue], list != .null else { continue }
                guard let items = list.arrayValue else {
                    events.append(invalid(entry, "entry.\(source.rawValue) is not an array", accountId: accountId, source: source, now: now))
                    continue
                }
                for item in items { events.append(event(item, accountId: accountId, source: source, now: now)) }
            }
            for change in entry["changes"]?.arrayValue ?? [] {
                let field = change["field"]?.stringValue
                guard let value = change["value"] else {
                    events.append(invalid(change, "change has no value", accountId: accountId, source: .changes, now: now))
                    continue
                }
                if field == "messages" || field == "messaging" {
                    events.append(event(value, accountId: accountId, source: .changes, now: now))
                } else if field == "comments" {
                    var e = commentEvent(change, value: value, accountId: accountId, now: now)
                    if let time = normalizeTimestamp(entry["time"], now: now), value["timestamp"] == nil { e.timestamp = time }
                    events.append(e)
                } else {
                    var e = event(value, accountId: accountId, source: .changes, now: now)
                    if case .invalid = e.kind {} else { e.kind = .unknown("changes." + (field.map(storable) ?? "?")) }
                    e.raw = change
                    events.append(e)
                }
            }
        }
        return WebhookDelivery(object: object, events: events)
    }

    /// Why an event cannot be stored as what it claims to be.
    struct Invalid: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    static func event(_ item: JSONValue, accountId: String, source: WebhookEventSource, now: EpochMillis) -> WebhookEvent {
        let timestamp = normalizeTimestamp(item["timestamp"], now: now) ?? now
        do throws(Invalid) {
            guard item.objectValue != nil else { throw Invalid("event is not a JSON object") }
            let kind = try kind(of: item, timestamp: timestamp)
            var isEcho = false
            if case .message(let m) = kind { isEcho = m.isEcho }
            var sender = try optionalId(item["sender"]?["id"], "sender.id")
            var recipient = try optionalId(item["recipient"]?["id"], "recipient.id")
            switch kind {
            case .unknown: break
            case _ where isEcho:
                // Our own message coming back: the customer is the recipient.
                recipient = try requiredId(item["recipient"]?["id"], "recipient.id")
            default:
                sender = try requiredId(item["sender"]?["id"], "sender.id")
            }
            return WebhookEvent(
                accountId: accountId, senderId: sender ?? "", recipientId: recipient ?? "", timestamp: timestamp,
                source: source, kind: kind, raw: item)
        } catch {
            return invalid(item, error.reason, accountId: accountId, source: source, now: now)
        }
    }

    static func invalid(_ item: JSONValue, _ reason: String, accountId: String, source: WebhookEventSource, now: EpochMillis)
        -> WebhookEvent
    {
        // The sender, when it is usable, lets the journal row name the thread it belongs to.
        let sender = (try? optionalId(item["sender"]?["id"], "sender.id")) ?? nil
        return WebhookEvent(
            accountId: accountId, senderId: sender ?? "", recipientId: "",
            timestamp: normalizeTimestamp(item["timestamp"], now: now) ?? now, source: source, kind: .invalid(reason), raw: item)
    }

    static func kind(of item: JSONValue, timestamp: EpochMillis) throws(Invalid) -> WebhookEventKind {
        if let m = item["message"] {
            let mid = try requiredId(m["mid"], "message.mid")
            let attachments = (m["attachments"]?.arrayValue ?? []).map { a in
                Attachment(type: text(a["type"]) ?? "file", url: text(a["payload"]?["url"]), title: text(a["payload"]?["title"]))
            }
            return .message(
                InboundMessage(
                    mid: mid, text: try optionalText(m["text"], "message.text"), attachments: attachments,
                    replyToMid: lenientId(m["reply_to"]?["mid"]),
                    replyToStoryURL: text(m["reply_to"]?["story"]?["url"]),
                    replyToStoryId: lenientId(m["reply_to"]?["story"]?["id"]),
                    quickReplyPayload: text(m["quick_reply"]?["payload"]),
                    isEcho: m["is_echo"]?.boolValue ?? false,
                    isDeleted: m["is_deleted"]?.boolValue ?? false,
                    isUnsupported: m["is_unsupported"]?.boolValue ?? false))
        }
        if let r = item["reaction"] {
            let mid = try requiredId(r["mid"], "reaction.mid")
            let action = text(r["action"]) ?? "react"
            return .reaction(
                ReactionEvent(
                    mid: mid, action: action, reaction: action == "unreact" ? nil : (text(r["reaction"]) ?? "love"),
                    emoji: text(r["emoji"])))
        }
        if let r = item["read"] {
            return .read(mid: lenientId(r["mid"]), watermark: normalizeTimestamp(r["watermark"], now: timestamp))
        }
        if let p = item["postback"] {
            return .postback(
                PostbackEvent(
                    mid: lenientId(p["mid"]) ?? "postback.\(lenientId(item["timestamp"]) ?? "")",
                    title: text(p["title"]), payload: text(p["payload"])))
        }
        if let e = item["message_edit"] {
            let mid = try requiredId(e["mid"], "message_edit.mid")
            let count = e["num_edit"]?.integer(in: 0...Int64(Int32.max)).map { Int($0) } ?? 1
            return .edit(MessageEdit(mid: mid, text: try optionalText(e["text"], "message_edit.text"), editCount: count))
        }
        let known = Set(["sender", "recipient", "timestamp"])
        let name = item.objectValue?.keys.filter { !known.contains($0) }.sorted().first ?? "empty"
        return .unknown(storable(String(name.prefix(64))))
    }

    // MARK: - checked conversions

    /// An id that must be there: a string or an integer, not empty, no U+0000 (SQLite would cut it there, and two
    /// different ids would become one), at most `maxIdBytes`.
    static func requiredId(_ value: JSONValue?, _ name: String) throws(Invalid) -> String {
        guard let value, value != .null else { throw Invalid("\(name) is missing") }
        guard let id = value.idString else { throw Invalid("\(name) is not a string or an integer") }
        if id.isEmpty { throw Invalid("\(name) is empty") }
        if id.utf8.contains(0) { throw Invalid("\(name) contains U+0000") }
        if id.utf8.count > maxIdBytes { throw Invalid("\(name) is longer than \(maxIdBytes) bytes") }
        return id
    }

    /// An id that may be absent (or empty); when present it must be as good as a required one.
    static func optionalId(_ value: JSONValue?, _ name: String) throws(Invalid) -> String? {
        guard let value, value != .null, value != .string("") else { return nil }
        return try requiredId(value, name)
    }

    /// A secondary reference (a replied-to mid, a story id): unusable values are dropped, not fatal.
    static func lenientId(_ value: JSONValue?) -> String? {
        try? optionalId(value, "")
    }

    /// Free text as it will be stored. U+0000 cannot pass through SQLite's C strings (everything after it would be
    /// lost), so it becomes U+FFFD — in SQLite, the journal and Redis alike.
    static func text(_ value: JSONValue?) -> String? {
        value?.stringValue.map(storable)
    }

    static func optionalText(_ value: JSONValue?, _ name: String) throws(Invalid) -> String? {
        guard let value, value != .null else { return nil }
        guard let s = value.stringValue else { throw Invalid("\(name) is not a string") }
        return storable(s)
    }

    public static func storable(_ s: String) -> String {
        guard s.utf8.contains(0) else { return s }
        return String(String.UnicodeScalarView(s.unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : $0 }))
    }

    /// `messaging` timestamps are milliseconds; the dashboard's test form sends a string of seconds. Nil for anything
    /// that is not a plausible time: not a finite positive number, or more than a day ahead of `now` (a timestamp
    /// of 9.2e18 would otherwise pin its thread at the top of the list for ever).
    public static func normalizeTimestamp(_ value: JSONValue?, now: EpochMillis) -> EpochMillis? {
        guard let n = value?.doubleValue, n > 0 else { return nil }
        let millis = n < 100_000_000_000 ? n * 1000 : n
        guard millis <= Double(now) + Double(maxClockSkewMillis) else { return nil }
        return EpochMillis(exactly: millis.rounded(.towardZero))
    }
}
