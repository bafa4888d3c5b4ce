import Foundation

// JSONValues built straight from the model types, without encoding and re-parsing them (the hot paths: journal
// payloads and socket lines); each equals what `JSONValue.from(_:)` (JSONEncoder, then the reader) returns.

extension JSONValue {
    /// What `JSONValue.from(view)` returns: the synthesized Codable keys, nil optionals left out.
    public init(_ v: MessageView) {
        var o: [String: JSONValue] = [
            "id": .string(v.id), "thread": .string(v.thread), "direction": .string(v.direction.rawValue),
            "author": .string(v.author.rawValue), "timestamp": .number(Double(v.timestamp)),
            "attachments": .array(v.attachments.map { a in
                var item: [String: JSONValue] = ["type": .string(a.type)]
                if let url = a.url { item["url"] = .string(url) }
                if let title = a.title { item["title"] = .string(title) }
                return .object(item)
            }),
            "reactions": .array(v.reactions.map { .string($0) }), "deleted": .bool(v.deleted), "edited": .bool(v.edited),
        ]
        if let mid = v.mid { o["mid"] = .string(mid) }
        if let text = v.text { o["text"] = .string(text) }
        if let delivery = v.delivery { o["delivery"] = .string(delivery.rawValue) }
        if let error = v.error { o["error"] = .string(error) }
        if let story = v.replyToStory { o["replyToStory"] = .string(story) }
        if let id = v.outboundId { o["outboundId"] = .number(Double(id)) }
        if let kind = v.kind { o["kind"] = .string(kind.rawValue) }
        if let mid = v.replyToMid { o["replyToMid"] = .string(mid) }
        if let text = v.replyToText { o["replyToText"] = .string(text) }
        if let unsent = v.replyToUnsent { o["replyToUnsent"] = .bool(unsent) }
        if let payload = v.payload { o["payload"] = .string(payload) }
        if let synced = v.synced { o["synced"] = .bool(synced) }
        self = .object(o)
    }

    /// What `JSONValue.from(summary)` returns.
    public init(_ s: ThreadSummary) {
        var o: [String: JSONValue] = [
            "id": .string(s.id), "mode": .string(s.mode.rawValue), "status": .string(s.status.rawValue),
            "unread": .number(Double(s.unread)), "awaitingOperator": .bool(s.awaitingOperator), "connected": .bool(s.connected),
        ]
        if let username = s.username { o["username"] = .string(username) }
        if let name = s.name { o["name"] = .string(name) }
        if let assignee = s.assignee { o["assignee"] = .string(assignee) }
        if let lastText = s.lastText { o["lastText"] = .string(lastText) }
        if let lastAt = s.lastAt { o["lastAt"] = .number(Double(lastAt)) }
        if let lastInboundAt = s.lastInboundAt { o["lastInboundAt"] = .number(Double(lastInboundAt)) }
        if let snoozedUntil = s.snoozedUntil { o["snoozedUntil"] = .number(Double(snoozedUntil)) }
        if let snoozeEndedAt = s.snoozeEndedAt { o["snoozeEndedAt"] = .number(Double(snoozeEndedAt)) }
        self = .object(o)
    }
}

extension ServerLine {
    /// The same object the synthesized Codable conformance encodes (nil fields left out), built directly.
    public var jsonValue: JSONValue {
        var o: [String: JSONValue] = ["type": .string(type)]
        if let id { o["id"] = id }
        if let p = self.protocol { o["protocol"] = .number(Double(p)) }
        if let daemon { o["daemon"] = .string(daemon) }
        if let account { o["account"] = .string(account) }
        if let listener { o["listener"] = .string(listener) }
        if let humanAgentTag { o["humanAgentTag"] = .bool(humanAgentTag) }
        if let result { o["result"] = result }
        if let error { o["error"] = ["code": .string(error.code), "message": .string(error.message)] }
        if let seq { o["seq"] = .number(Double(seq)) }
        if let event { o["event"] = .string(event) }
        if let thread { o["thread"] = .string(thread) }
        if let data { o["data"] = data }
        if let at { o["at"] = .number(Double(at)) }
        return .object(o)
    }
}

extension JSONValue {
    /// What `JSONValue.from(hit)` returns (a search answers up to 500 of these at a time).
    public init(_ h: SearchHit) {
        var o: [String: JSONValue] = [
            "mid": .string(h.mid), "thread": .string(h.thread), "direction": .string(h.direction.rawValue),
            "author": .string(h.author), "timestamp": .number(Double(h.timestamp)), "snippet": .string(h.snippet),
            "highlights": .array(h.highlights.map { ["start": .number(Double($0.start)), "length": .number(Double($0.length))] }),
        ]
        if let name = h.name { o["name"] = .string(name) }
        if let username = h.username { o["username"] = .string(username) }
        self = .object(o)
    }
}
