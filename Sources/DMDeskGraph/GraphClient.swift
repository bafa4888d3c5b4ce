import AsyncHTTPClient
import DMDeskCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// What Meta answered to a send: who got it and the id it gave the message.
public struct SendResult: Sendable, Equatable {
    public var recipientId: String?
    public var messageId: String?

    public init(recipientId: String?, messageId: String?) {
        self.recipientId = recipientId
        self.messageId = messageId
    }
}

/// An Instagram user as the profile endpoint describes them.
public struct InstagramProfile: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var username: String?
    public var profilePic: String?

    public init(id: String, name: String?, username: String?, profilePic: String?) {
        self.id = id
        self.name = name
        self.username = username
        self.profilePic = profilePic
    }
}

/// Instagram Messaging and WhatsApp Cloud API calls over AsyncHTTPClient.
///
/// Every method is exactly one attempt; callers decide about retries with `withGraphRetries`, because only
/// they know whether the outbox row was updated in between. Tokens travel only in the `Authorization`
/// header and are never logged or put in errors.
public final class GraphClient: Sendable {
    public let settings: GraphSettings
    private let httpClient: HTTPClient
    private let refreshedToken = Mutex<String?>(nil)
    private let logger: Logger

    /// Answers bigger than this are cut off; Graph answers for these calls are a few hundred bytes.
    private static let maxResponseBytes = 1 << 20

    /// The client every GraphClient uses unless given another: like `HTTPClient.shared` (never shut down, on the
    /// shared event loops), but with room for many concurrent sends to one host — `.shared` keeps 8 connections
    /// per host, so a burst of replies to thousands of customers queued for a connection.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(
        settings: GraphSettings, httpClient: HTTPClient = GraphClient.sharedHTTPClient,
        logger: Logger = Logger(label: "dmdesk.graph")
    ) {
        self.settings = settings
        self.httpClient = httpClient
        self.logger = logger
    }

    /// The Instagram token calls carry: a refreshed one once `useInstagramToken` swapped it in, else the configured one.
    public var instagramToken: String? { refreshedToken.withLock { $0 } ?? settings.instagramToken }

    /// Swaps in a refreshed long-lived token: every later call carries it.
    public func useInstagramToken(_ token: String) {
        refreshedToken.withLock { $0 = GraphSettings.nonEmpty(token) }
    }

    // MARK: Instagram

    /// Sends a text DM. With `humanAgentTag` it is sent with the HUMAN_AGENT tag, which Meta allows up to
    /// 7 days after the customer's last message instead of 24 hours.
    public func sendText(recipient: String, text: String, humanAgentTag: Bool = false) async throws(GraphError)
        -> SendResult
    {
        try await sendMessage(recipient: recipient, message: ["text": .string(text)], humanAgentTag: humanAgentTag)
    }

    /// Sends media by URL (`message.attachment` with `payload.url`): Meta fetches it from there. Refusals — a format
    /// it does not take, a file over its size limit, a URL it cannot fetch — come back as `GraphError`s with their
    /// own plain words (`GraphError.attachmentProblem`).
    public func sendAttachment(recipient: String, attachment: OutgoingAttachment, humanAgentTag: Bool = false)
        async throws(GraphError) -> SendResult
    {
        try await sendMessage(
            recipient: recipient,
            message: ["attachment": ["type": .string(attachment.type.rawValue), "payload": ["url": .string(attachment.url)]]],
            humanAgentTag: humanAgentTag)
    }

    private func sendMessage(recipient: String, message: JSONValue, humanAgentTag: Bool) async throws(GraphError) -> SendResult {
        var body: [String: JSONValue] = ["recipient": ["id": .string(recipient)], "message": message]
        if humanAgentTag {
            body["messaging_type"] = "MESSAGE_TAG"
            body["tag"] = "HUMAN_AGENT"
        }
        let answer = try await instagram(.POST, path: "/me/messages", body: .object(body))
        return SendResult(recipientId: answer["recipient_id"]?.idString, messageId: answer["message_id"]?.idString)
    }

    /// Reacts to a message (`reaction`, e.g. "love"), or removes our reaction when `reaction` is nil.
    public func react(recipient: String, messageId: String, reaction: String?) async throws(GraphError)
        -> SendResult
    {
        let body: JSONValue
        if let reaction {
            body = [
                "recipient": ["id": .string(recipient)], "sender_action": "react",
                "payload": ["message_id": .string(messageId), "reaction": .string(reaction)],
            ]
        } else {
            body = [
                "recipient": ["id": .string(recipient)], "sender_action": "unreact",
                "payload": ["message_id": .string(messageId)],
            ]
        }
        let answer = try await instagram(.POST, path: "/me/messages", body: body)
        return SendResult(recipientId: answer["recipient_id"]?.idString, messageId: answer["message_id"]?.idString)
    }

    /// The name, username and picture of an Instagram-scoped user id.
    public func profile(igsid: String) async throws(GraphError) -> InstagramProfile {
        let answer = try await instagram(
            .GET, path: "/" + Self.pathSegment(igsid), query: [("fields", "name,username,profile_pic")])
        return InstagramProfile(
            id: answer["id"]?.idString ?? igsid,
            name: answer["name"]?.stringValue,
            username: answer["username"]?.stringValue,
            profilePic: answer["profile_pic"]?.stringValue)
    }

    /// Best effort: the latest `limit` messages of the conversation with `igsid`, newest first as Meta
    /// returns them. Each is `{id, message, from, created_time}`; an unknown conversation gives `[]`.
    public func conversationMessages(igsid: String, limit: Int) async throws(GraphError) -> [JSONValue] {
        let limit = max(1, min(limit, 100))
        let answer = try await instagram(
            .GET, path: "/me/conversations",
            query: [
                ("platform", "instagram"), ("user_id", igsid),
                ("fields", "messages.limit(\(limit)){id,message,from,created_time}"),
            ])
        return answer["data"]?.arrayValue?.first?["messages"]?["data"]?.arrayValue ?? []
    }

    // MARK: WhatsApp

    /// A free-form WhatsApp text; Meta only delivers it within 24 hours of the recipient's last message
    /// (otherwise code 131047, see `GraphError.isWhatsAppReengagement`).
    public func sendWhatsApp(to: String, text: String) async throws(GraphError) -> SendResult {
        try await whatsApp([
            "messaging_product": "whatsapp", "to": .string(to), "type": "text",
            "text": ["body": .string(text)],
        ])
    }

    /// An approved template with `bodyText` as its single body parameter: what may be sent outside the window.
    public func sendWhatsAppTemplate(
        to: String, template: String, language: String = "en_US", bodyText: String
    ) async throws(GraphError) -> SendResult {
        try await whatsApp([
            "messaging_product": "whatsapp", "to": .string(to), "type": "template",
            "template": [
                "name": .string(template),
                "language": ["code": .string(language)],
                "components": [
                    ["type": "body", "parameters": [["type": "text", "text": .string(bodyText)]]]
                ],
            ],
        ])
    }

    private func whatsApp(_ body: JSONValue) async throws(GraphError) -> SendResult {
        guard let token = settings.effectiveWhatsAppToken else {
            throw .notConfigured("WhatsApp access token (WHATSAPP_TOKEN)")
        }
        guard let phoneNumberId = settings.phoneNumberId else {
            throw .notConfigured("WhatsApp phone number id (WHATSAPP_PHONE_NUMBER_ID)")
        }
        let url = try Self.url(
            base: settings.whatsappBaseURL, path: "/\(Self.pathSegment(phoneNumberId))/messages", query: [])
        let answer = try await execute(.POST, url: url, token: token, body: body, api: "whatsapp")
        return SendResult(
            recipientId: answer["contacts"]?.arrayValue?.first?["wa_id"]?.idString,
            messageId: answer["messages"]?.arrayValue?.first?["id"]?.idString)
    }

    // MARK: HTTP

    /// One Instagram API call; `timeout` overrides the settings' request timeout (a best-effort call's is short).
    func instagram(
        _ method: HTTPMethod, path: String, query: [(String, String)] = [], body: JSONValue? = nil, timeout: Duration? = nil
    ) async throws(GraphError) -> JSONValue {
        guard let token = instagramToken else {
            throw .notConfigured("Instagram access token (INSTAGRAM_ACCESS_TOKEN)")
        }
        let url = try Self.url(base: settings.instagramBaseURL, path: path, query: query)
        return try await execute(method, url: url, token: token, body: body, api: "instagram", timeout: timeout)
    }

    private func execute(
        _ method: HTTPMethod, url: String, token: String, body: JSONValue?, api: String, timeout: Duration? = nil
    ) async throws(GraphError) -> JSONValue {
        let answer = try await exchange(method, url: url, token: token, body: body, api: api, timeout: timeout)
        return try answer.result.get()
    }

    /// What one call got back: the answer (or Meta's refusal, classified) and the `Date` header Meta sent with it.
    struct Answer: Sendable {
        var result: Result<JSONValue, GraphError>
        var serverDate: Date?
    }

    /// One attempt: a transport failure throws; any answer is returned, a refusal as `.failure`, with its headers' date.
    func exchange(
        _ method: HTTPMethod, url: String, token: String, body: JSONValue?, api: String, timeout: Duration? = nil
    ) async throws(GraphError) -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "dmdesk")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.encoded()))
        }
        // The URL holds ids but never the token; a password in a configured base URL is masked.
        let logger = self.logger.with(["graph.api": "\(api)", "graph.method": "\(method.rawValue)"])
        // A well-formed URL (RFC 3986 authority); a token in the query (Meta's refresh endpoint takes one) is redacted.
        let shownURL = redacting(token, in: URLSecrets.maskingPasswords(in: url))
        let started = ContinuousClock.now

        let status: Int
        let headers: HTTPHeaders
        let data: Data
        do {
            let response = try await httpClient.execute(
                request, timeout: .nanoseconds((timeout ?? settings.requestTimeout).nanoseconds), logger: nil)
            status = Int(response.status.code)
            headers = response.headers
            let buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            data = Data(buffer.readableBytesView)
        } catch {
            let failure = GraphError.network(URLSecrets.maskingPasswords(in: redacting(token, in: String(describing: error))))
            logger.warning("graph call failed", metadata: ["url": "\(shownURL)", "error": "\(failure)"])
            throw failure
        }
        let elapsed = ContinuousClock.now - started
        let serverDate = headers.first(name: "Date").flatMap(Self.parseHTTPDate)

        guard (200..<300).contains(status) else {
            var failure = GraphError.fromResponse(
                status: status, body: data, retryAfter: headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter))
            failure.message = failure.message.map { redacting(token, in: $0) }
            logger.warning(
                "graph call refused",
                metadata: [
                    "url": "\(shownURL)", "status": "\(status)", "error": "\(failure)", "elapsed": "\(elapsed)",
                    "retryable": "\(failure.isRetryable)",
                ])
            return Answer(result: .failure(failure), serverDate: serverDate)
        }
        logger.debug("graph call ok", metadata: ["url": "\(shownURL)", "status": "\(status)", "elapsed": "\(elapsed)"])
        if data.isEmpty { return Answer(result: .success(.null), serverDate: serverDate) }
        do {
            return Answer(result: .success(try JSONValue.parse(data)), serverDate: serverDate)
        } catch {
            return Answer(
                result: .failure(GraphError(kind: .invalidResponse("answer is not JSON"), status: status)), serverDate: serverDate)
        }
    }

    /// Belt and braces: should Meta or a proxy ever echo the token back, it must not reach logs or the outbox.
    private func redacting(_ token: String, in text: String) -> String {
        // A very short (test) token would match ordinary words and make every message unreadable.
        guard token.count >= 8 else { return text }
        return text.replacingOccurrences(of: token, with: "[redacted]")
    }

    static func url(base: String, path: String, query: [(String, String)]) throws(GraphError) -> String {
        let base = GraphSettings.trimmingTrailingSlashes(base)
        guard var components = URLComponents(string: base + path), components.host != nil else {
            throw .notConfigured("a valid Graph API base URL (got \"\(URLSecrets.masking(url: base))\")")
        }
        if !query.isEmpty {
            components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
            // URLComponents leaves "+" alone, which servers read as a space.
            components.percentEncodedQuery = components.percentEncodedQuery?
                .replacingOccurrences(of: "+", with: "%2B")
        }
        guard let url = components.string else {
            throw .notConfigured("a valid Graph API base URL (got \"\(URLSecrets.masking(url: base))\")")
        }
        return url
    }

    /// Ids go into the path; anything that is not plainly an id is percent-encoded so it cannot change the route.
    static func pathSegment(_ id: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }

    /// `Retry-After` is either delta-seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Double? {
        let value = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(value), seconds.isFinite { return max(0, seconds) }
        guard let date = parseHTTPDate(value) else { return nil }
        return max(0, date.timeIntervalSinceNow)
    }

    /// An HTTP date (RFC 9110 IMF-fixdate), e.g. `Thu, 03 Dec 2026 06:15:00 GMT`; nil when it is not one.
    public static func parseHTTPDate(_ value: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value.trimmingCharacters(in: .whitespaces))
    }
}

extension Logger {
    fileprivate func with(_ metadata: Logger.Metadata) -> Logger {
        var copy = self
        for (key, value) in metadata { copy[metadataKey: key] = value }
        return copy
    }
}
