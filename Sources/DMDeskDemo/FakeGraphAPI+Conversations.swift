import DMDeskCore
import Foundation
import Hummingbird

/// The stand-in's Conversations API (Instagram API with Instagram Login), answered as Meta does:
/// - `GET /me/conversations?platform=instagram[&fields=id,updated_time][&limit=N][&after=CURSOR]`: conversations,
///   newest activity first, `{data:[{id,updated_time}], paging:{cursors:{before,after}, next}}` (`next` only when
///   there is a next page; 25 a page unless `limit`, at most 100);
/// - `GET /{conversation-id}?fields=messages`: `{id, messages:{data:[{id,created_time}]}}`, newest first;
/// - `GET /{message-id}?fields=id,created_time,from,to,message`: one message — only for a conversation's 20 most
///   recent messages, older ones answer Meta's `(#100)` "does not exist" error;
/// - without `platform=instagram` the list is refused (`(#100)`), a rate limit set with `rateLimitConversations`
///   answers `(#4) Application request limit reached`, and a bad token Meta's 190 (as every call here).
/// The per-user lookup (`GET /me/conversations?user_id=…`, the outbox's proof of a send) stays in FakeGraphAPI.swift.
/// Conversations are the stand-in's `conversations` state: the customer's id → messages, newest first.
extension FakeGraphAPI {
    /// Meta gives message details for a conversation's most recent 20 only.
    public static let detailedMessagesPerConversation = 20
    static let conversationPrefix = "conv_"

    /// Adds a message Meta has but never delivered by webhook: in `customer`'s conversation, written by them
    /// (`fromCustomer`) or by the business. Returns its id.
    @discardableResult
    public func addUndeliveredMessage(
        customer: String, text: String, fromCustomer: Bool = true, at: Date = Date(), mid: String? = nil
    ) -> String {
        let id = mid ?? "aWdfZAG06undelivered_\(UUID().uuidString.prefix(12))"
        state.withLock { state in
            let from = fromCustomer ? customer : state.account.id
            let entry: JSONValue = [
                "id": .string(id), "message": .string(text), "created_time": .string(Self.metaTime(at)),
                "from": ["id": .string(from)],
            ]
            var list = state.conversations[customer, default: []]
            list.append(entry)
            // Newest first; Meta's time format sorts as text.
            list.sort { ($0["created_time"]?.stringValue ?? "") > ($1["created_time"]?.stringValue ?? "") }
            state.conversations[customer] = list
        }
        return id
    }

    /// The next `calls` Conversations API calls are answered; every one after gets Meta's rate-limit error (code 4)
    /// until `rateLimitConversations(nil)`.
    public func rateLimitConversations(after calls: Int?) {
        state.withLock { $0.conversationCallsLeft = calls }
    }

    /// Conversations API calls answered (list, conversation, message), rate-limited ones excluded.
    public var conversationsAPICalls: Int { state.withLock { $0.conversationCalls } }

    /// The Conversations API's answer, or nil when the request is not one of its calls.
    func conversationsAPI(method: HTTPRequest.Method, segments: [String], query: String) -> Response? {
        guard method == .get else { return nil }
        let items = URLComponents(string: "http://x/?" + query)?.queryItems ?? []
        func parameter(_ name: String) -> String? { items.first { $0.name == name }?.value }
        let call: () -> Response
        if segments == ["me", "conversations"] {
            if parameter("user_id") != nil { return nil }
            call = { self.conversationList(platform: parameter("platform"), limit: parameter("limit"), after: parameter("after")) }
        } else if segments.count == 1, segments[0].hasPrefix(Self.conversationPrefix) {
            call = { self.conversation(segments[0], fields: parameter("fields")) }
        } else if segments.count == 1, let found = findMessage(segments[0]) {
            call = { self.messageDetails(found) }
        } else {
            return nil
        }
        let limited = state.withLock { state -> Bool in
            if let left = state.conversationCallsLeft {
                if left <= 0 { return true }
                state.conversationCallsLeft = left - 1
            }
            state.conversationCalls += 1
            return false
        }
        if limited {
            return Self.metaError(status: 400, code: 4, message: "(#4) Application request limit reached", type: "IGApiException")
        }
        return call()
    }

    private func conversationList(platform: String?, limit: String?, after: String?) -> Response {
        guard platform == "instagram" else {
            return Self.invalidParameter("param platform must be instagram for an Instagram professional account's conversations.")
        }
        var pageSize = 25
        if let limit {
            guard let n = Int(limit), n > 0 else { return Self.invalidParameter("param limit must be a positive integer.") }
            pageSize = min(n, 100)
        }
        var start = 0
        if let after {
            guard let offset = Self.offset(ofCursor: after) else { return Self.invalidParameter("Invalid cursor: \(after)") }
            start = offset + 1
        }
        let all = state.withLock { state in
            state.conversations.compactMap { user, messages -> (id: String, updated: String)? in
                guard let newest = messages.first?["created_time"]?.stringValue else { return nil }
                return (Self.conversationPrefix + user, newest)
            }
        }.sorted { $0.updated != $1.updated ? $0.updated > $1.updated : $0.id < $1.id }
        let page = Array(all.dropFirst(start).prefix(pageSize))
        var answer: [String: JSONValue] = [
            "data": .array(page.map { ["id": .string($0.id), "updated_time": .string($0.updated)] })
        ]
        if !page.isEmpty {
            var paging: [String: JSONValue] = [
                "cursors": ["before": .string(Self.cursor(start)), "after": .string(Self.cursor(start + page.count - 1))]
            ]
            if start + page.count < all.count {
                paging["next"] = .string(
                    baseURL + "/" + Self.apiVersion + "/me/conversations?platform=instagram&limit=\(pageSize)&after="
                        + Self.cursor(start + page.count - 1))
            }
            answer["paging"] = .object(paging)
        }
        return Self.json(.object(answer))
    }

    private func conversation(_ id: String, fields: String?) -> Response {
        let user = String(id.dropFirst(Self.conversationPrefix.count))
        guard let messages = state.withLock({ $0.conversations[user] }) else { return Self.noSuchObject(id) }
        var answer: [String: JSONValue] = ["id": .string(id)]
        let asked = fields?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
        for field in asked {
            switch field {
            case "id": break
            case "updated_time": answer["updated_time"] = messages.first?["created_time"] ?? .null
            case "messages":
                answer["messages"] = [
                    "data": .array(messages.map { ["id": $0["id"] ?? .null, "created_time": $0["created_time"] ?? .null] })
                ]
            default:
                return Self.invalidParameter("Tried accessing nonexisting field (\(field)) on node type (Conversation)")
            }
        }
        return Self.json(.object(answer))
    }

    struct FoundMessage {
        var customer: String
        var entry: JSONValue
        var recent: Bool
        var business: String
    }

    private func findMessage(_ id: String) -> FoundMessage? {
        state.withLock { state in
            for (customer, messages) in state.conversations {
                if let index = messages.firstIndex(where: { $0["id"]?.stringValue == id }) {
                    return FoundMessage(
                        customer: customer, entry: messages[index], recent: index < Self.detailedMessagesPerConversation,
                        business: state.account.id)
                }
            }
            return nil
        }
    }

    private func messageDetails(_ found: FoundMessage) -> Response {
        let id = found.entry["id"]?.stringValue ?? ""
        guard found.recent else { return Self.noSuchObject(id) }
        let from = found.entry["from"]?["id"]?.idString ?? found.customer
        let to = from == found.customer ? found.business : found.customer
        func user(_ id: String) -> JSONValue {
            ["id": .string(id), "username": .string(id == found.business ? "dmdesk_demo_shop" : "customer_\(id.suffix(6))")]
        }
        return Self.json([
            "id": .string(id), "created_time": found.entry["created_time"] ?? .null,
            "from": user(from), "to": ["data": [user(to)]],
            "message": found.entry["message"] ?? "",
        ])
    }

    static func noSuchObject(_ id: String) -> Response {
        metaError(
            status: 400, code: 100, subcode: 33,
            message: "Unsupported get request. Object with ID '\(id)' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
            type: "GraphMethodException")
    }

    static func cursor(_ offset: Int) -> String { "QVFI" + Data("offset:\(offset)".utf8).base64EncodedString() }

    static func offset(ofCursor cursor: String) -> Int? {
        guard cursor.hasPrefix("QVFI"), let data = Data(base64Encoded: String(cursor.dropFirst(4))),
            let text = String(data: data, encoding: .utf8), text.hasPrefix("offset:")
        else { return nil }
        return Int(text.dropFirst("offset:".count))
    }
}
