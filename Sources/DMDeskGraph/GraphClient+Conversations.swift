import DMDeskCore
import Foundation

/// One conversation in Meta's list (`GET /me/conversations?platform=instagram`), newest activity first.
public struct GraphConversation: Sendable, Equatable {
    public var id: String
    /// `updated_time`: when its last message was sent (nil when Meta left it out).
    public var updatedAt: EpochMillis?

    public init(id: String, updatedAt: EpochMillis?) {
        self.id = id
        self.updatedAt = updatedAt
    }
}

/// A page of conversations and the cursor of the next one (nil: the last page).
public struct GraphConversationPage: Sendable, Equatable {
    public var conversations: [GraphConversation]
    public var after: String?
}

/// A message as `GET /{conversation-id}?fields=messages` lists it: its id and time.
public struct GraphMessageRef: Sendable, Equatable {
    public var id: String
    public var createdAt: EpochMillis?
}

/// A message's details (`GET /{message-id}?fields=id,created_time,from,to,message`).
public struct GraphMessage: Sendable, Equatable {
    public var id: String
    public var createdAt: EpochMillis?
    public var fromId: String?
    public var toIds: [String]
    public var text: String?
}

/// Instagram's Conversations API (Instagram API with Instagram Login): the list of conversations, each one's
/// messages, and a message's details. Meta gives the details of a conversation's 20 most recent messages only;
/// older ones answer an error. Every call is one attempt, as elsewhere in `GraphClient`.
extension GraphClient {
    /// Conversations per page asked for (Meta's default page is 25; more per page means fewer calls).
    public static let conversationsPageSize = 50

    /// One page of `GET /me/conversations?platform=instagram&fields=id,updated_time`, after `after` (a cursor from
    /// the previous page).
    public func conversations(after: String? = nil, limit: Int = GraphClient.conversationsPageSize) async throws(GraphError)
        -> GraphConversationPage
    {
        var query: [(String, String)] = [("platform", "instagram"), ("fields", "id,updated_time"), ("limit", "\(max(1, min(limit, 100)))")]
        if let after { query.append(("after", after)) }
        let answer = try await instagram(.GET, path: "/me/conversations", query: query)
        let items = (answer["data"]?.arrayValue ?? []).compactMap { item -> GraphConversation? in
            guard let id = item["id"]?.idString else { return nil }
            return GraphConversation(id: id, updatedAt: item["updated_time"].flatMap(Self.metaTime))
        }
        // Meta puts `paging.next` only when there is a next page; the cursor alone is there on the last one too.
        let next = answer["paging"]?["next"]?.stringValue != nil ? answer["paging"]?["cursors"]?["after"]?.stringValue : nil
        return GraphConversationPage(conversations: items, after: next)
    }

    /// `GET /{conversation-id}?fields=messages`: its messages' ids and times, newest first.
    public func conversationMessageRefs(_ conversationId: String) async throws(GraphError) -> [GraphMessageRef] {
        let answer = try await instagram(.GET, path: "/" + Self.pathSegment(conversationId), query: [("fields", "messages")])
        return (answer["messages"]?["data"]?.arrayValue ?? []).compactMap { item in
            guard let id = item["id"]?.idString else { return nil }
            return GraphMessageRef(id: id, createdAt: item["created_time"].flatMap(Self.metaTime))
        }
    }

    /// `GET /{message-id}?fields=id,created_time,from,to,message`.
    public func message(_ messageId: String) async throws(GraphError) -> GraphMessage {
        let answer = try await instagram(
            .GET, path: "/" + Self.pathSegment(messageId), query: [("fields", "id,created_time,from,to,message")])
        return GraphMessage(
            id: answer["id"]?.idString ?? messageId, createdAt: answer["created_time"].flatMap(Self.metaTime),
            fromId: answer["from"]?["id"]?.idString,
            toIds: (answer["to"]?["data"]?.arrayValue ?? []).compactMap { $0["id"]?.idString },
            text: answer["message"]?.stringValue)
    }

    /// Meta's times: "2024-11-21T12:00:03+0000" (or with a colon or Z), or a Unix timestamp (number or string).
    public static func metaTime(_ value: JSONValue) -> EpochMillis? {
        if let n = value.doubleValue, n.isFinite, n > 0 { return EpochMillis(n * 1000) }
        guard let text = value.stringValue?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if text.allSatisfy(\.isNumber), let seconds = Int64(text) { return seconds * 1000 }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd'T'HH:mm:ssZ", "yyyy-MM-dd'T'HH:mm:ssXXXXX", "yyyy-MM-dd'T'HH:mm:ss.SSSZ"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return EpochMillis(date.timeIntervalSince1970 * 1000) }
        }
        return nil
    }
}
