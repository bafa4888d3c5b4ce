import AsyncHTTPClient
import DMDeskCore
import Foundation
import Hummingbird
import Logging
import Synchronization

/// A local stand-in for Meta's Graph API (Instagram Messaging and WhatsApp Cloud API): a real HTTP server on
/// 127.0.0.1 that answers like Meta (ids, error bodies, the 1000-byte limit), records every request, and can
/// be told to fail the next calls. Tests use it, and so does `dmdesk demo`, which needs no network.
///
/// ```swift
/// let fake = FakeGraphAPI(expectedToken: "t")
/// let base = try await fake.start()          // "http://127.0.0.1:PORT"
/// // point GraphSettings at fake.instagramBaseURL / fake.whatsappBaseURL
/// await fake.stop()
/// ```
/// Paths may carry a version segment (`/v24.0/me/messages`) or not (`/me/messages`).
public final class FakeGraphAPI: Sendable {
    public struct RecordedRequest: Sendable {
        public var method: String
        /// Path as received, version segment included.
        public var path: String
        /// Raw query string, "" when none.
        public var query: String
        public var authorization: String?
        /// The JSON body; nil for GET or a body that is not JSON.
        public var body: JSONValue?
        public var at: Date
    }

    /// One queued failure: answered instead of the next API call, whatever the endpoint.
    struct InjectedFailure: Sendable {
        var status: Int
        var body: String
        var retryAfter: Int?
    }

    struct State {
        var requests: [RecordedRequest] = []
        var failures: [InjectedFailure] = []
        var profiles: [String: (name: String?, username: String?)]
        /// Accepted Instagram Send API bodies (texts and reactions), in arrival order.
        var instagramMessages: [JSONValue] = []
        var whatsAppMessages: [JSONValue] = []
        var nextMessageNumber = 1
        /// Conversations API answers by user id: messages newest first, as Meta returns them.
        var conversations: [String: [JSONValue]] = [:]
        var echoes: EchoDelivery?
        /// Accepted texts are added to the recipient's conversation, as Meta's Conversations API shows them.
        var recordsConversations = true
        /// The next this many accepted texts are answered with a 500 although they were accepted (and echoed).
        var lostAnswers = 0
        var echoesDelivered = 0
        var stopped = false
        /// Failures answered instead of the next typing indicators and seen receipts only.
        var senderActionFailures: [InjectedFailure] = []
        /// The account's messenger profile as set: `ice_breakers`, `persistent_menu` (FakeGraphAPI+Profile.swift).
        var messengerProfile: [String: JSONValue] = [:]
        /// Tokens handed out by `/refresh_access_token`, accepted beside `expectedToken`.
        var refreshedTokens: Set<String> = []
        /// Tokens Meta has invalidated (`revokeToken`): every call with one, a refresh included, answers 190.
        var revokedTokens: Set<String> = []
        var refreshTokenLifetime = 5_184_000
        var refreshCount = 0
        /// Comments the stand-in knows, by id (FakeGraphAPI+Comments.swift).
        var comments: [String: KnownComment] = [:]
        var commentCalls = CommentCalls()
        /// Whose token the expected one is: what `GET /me` answers.
        var account = Account()
        /// Added to the time in every answer's `Date` header: a Meta whose clock (or ours) is off.
        var clockSkew: TimeInterval = 0
        /// Conversations API calls answered, and how many more may be before its rate limit (FakeGraphAPI+Conversations.swift).
        var conversationCalls = 0
        var conversationCallsLeft: Int?
    }

    /// The business account `GET /me` describes.
    public struct Account: Sendable, Equatable {
        public var id: String
        public var username: String
        public var name: String

        public init(id: String = WebhookBuilder.accountId, username: String = "dmdesk_demo_shop", name: String = "Demo Shop") {
            self.id = id
            self.username = username
            self.name = name
        }
    }

    /// `is_echo` webhooks for the texts the stand-in accepts, as Meta sends them for every message an app sends:
    /// signed with the app secret and POSTed to the daemon's webhook, carrying the `message_id` the send returned.
    public struct EchoDelivery: Sendable {
        public var webhookURL: String
        public var appSecret: String
        /// The business account: the echo's sender and its entry id.
        public var accountId: String
        /// Pause after answering the send before the echo goes out.
        public var delay: Duration
        /// Deliver the echo, and wait for the daemon's 200, before answering the send: the race in which the echo is
        /// stored before the sender hears back.
        public var beforeAnswer: Bool
        /// A delivery the daemon does not answer 200 is tried again every `retryInterval` for this long, as Meta
        /// retries webhooks (for hours, there).
        public var retryFor: Duration
        public var retryInterval: Duration

        public init(
            webhookURL: String, appSecret: String, accountId: String = WebhookBuilder.accountId,
            delay: Duration = .milliseconds(50), beforeAnswer: Bool = false, retryFor: Duration = .seconds(120),
            retryInterval: Duration = .milliseconds(250)
        ) {
            self.webhookURL = webhookURL
            self.appSecret = appSecret
            self.accountId = accountId
            self.delay = delay
            self.beforeAnswer = beforeAnswer
            self.retryFor = retryFor
            self.retryInterval = retryInterval
        }
    }

    /// Meta's own limit for `message.text`, in UTF-8 bytes.
    public static let maxTextBytes = maxMessageBytes
    public static let apiVersion = "v24.0"

    let expectedToken: String?
    private let latency: Duration
    private let logger: Logger
    let state: Mutex<State>
    private let server: LocalHTTPServer

    /// - Parameters:
    ///   - expectedToken: when set, calls without `Authorization: Bearer <expectedToken>` get Meta's 190 error.
    ///   - profiles: names and usernames for profile lookups; other ids get a generated username.
    ///   - latency: added before every answer, to make the demo feel like a network.
    ///   - logger: the embedded server's logger; silent by default so it cannot disturb a curses screen.
    public init(
        expectedToken: String? = nil, profiles: [String: (name: String?, username: String?)] = [:],
        latency: Duration = .zero, logger: Logger? = nil
    ) {
        self.expectedToken = expectedToken
        self.latency = latency
        let logger = logger ?? Logger(label: "dmdesk.fake-graph-api", factory: { _ in SwiftLogNoOpLogHandler() })
        self.logger = logger
        self.state = Mutex(State(profiles: profiles))
        server = LocalHTTPServer(name: "FakeGraphAPI", logger: logger)
    }

    // MARK: Lifecycle

    /// Starts the server on an ephemeral port and returns its base URL, e.g. "http://127.0.0.1:49152".
    /// Calling it again while running returns the same URL.
    @discardableResult
    public func start() async throws -> String {
        state.withLock { $0.stopped = false }
        return Self.baseURL(
            port: try await server.start { [weak self] request in
                guard let self else { return Response(status: .serviceUnavailable) }
                return try await self.respond(to: request)
            })
    }

    /// Stops the server and waits until it has closed its socket. Recorded requests are kept.
    public func stop() async {
        state.withLock { $0.stopped = true }  // echoes still being retried give up
        await server.stop()
    }

    /// "http://127.0.0.1:PORT" while running.
    public var baseURL: String { Self.baseURL(port: port ?? 0) }
    /// What to put in `GraphSettings.instagramBaseURL`.
    public var instagramBaseURL: String { baseURL + "/" + Self.apiVersion }
    /// What to put in `GraphSettings.whatsappBaseURL`.
    public var whatsappBaseURL: String { baseURL + "/" + Self.apiVersion }
    public var port: Int? { server.port }

    private static func baseURL(port: Int) -> String { "http://127.0.0.1:\(port)" }

    // MARK: Inspection and control

    /// Every request received, failed ones included, in arrival order.
    public func requests() -> [RecordedRequest] { state.withLock { $0.requests } }

    /// Texts accepted by the Instagram Send API (injected failures and refusals excluded), in arrival order.
    public func sentTexts(to recipient: String? = nil) -> [String] {
        instagramMessages().compactMap { body in
            guard recipient == nil || body["recipient"]?["id"]?.idString == recipient else { return nil }
            return body["message"]?["text"]?.stringValue
        }
    }

    /// Accepted Instagram Send API bodies: texts and sender actions such as reactions.
    public func instagramMessages() -> [JSONValue] { state.withLock { $0.instagramMessages } }

    /// Accepted WhatsApp message bodies (text and template), in arrival order.
    public func whatsAppMessages() -> [JSONValue] { state.withLock { $0.whatsAppMessages } }

    /// The next `count` API calls, on any endpoint, answer `status` with Meta's error body.
    public func failNext(
        _ count: Int, status: Int, code: Int, subcode: Int? = nil,
        message: String = "An unexpected error has occurred. Please retry your request later.",
        retryAfter: Int? = nil
    ) {
        var error: JSONValue = [
            "message": .string(message),
            "type": code == 190 ? "OAuthException" : "IGApiException",
            "code": .number(Double(code)),
            "fbtrace_id": .string(Self.fbtraceId()),
        ]
        if let subcode, case .object(var members) = error {
            members["error_subcode"] = .number(Double(subcode))
            error = .object(members)
        }
        let body = JSONValue.object(["error": error]).encodedString()
        enqueue(count, InjectedFailure(status: status, body: body, retryAfter: retryAfter))
    }

    /// The next `count` API calls answer `status` with `rawBody` as it is, e.g. a proxy's HTML error page.
    public func failNext(_ count: Int, status: Int, rawBody: String, retryAfter: Int? = nil) {
        enqueue(count, InjectedFailure(status: status, body: rawBody, retryAfter: retryAfter))
    }

    public func setProfile(_ igsid: String, name: String?, username: String?) {
        state.withLock { $0.profiles[igsid] = (name, username) }
    }

    /// What the Conversations API returns for the conversation with `igsid`. `messages` are oldest first
    /// (`fromCustomer`: written by `igsid`, else by the business); Meta answers them newest first.
    public func setConversation(_ igsid: String, messages: [(text: String, fromCustomer: Bool)], businessId: String = "17841400000000000") {
        let start = Date().addingTimeInterval(-86_400)
        let items: [JSONValue] = messages.enumerated().map { i, m in
            let time = ISO8601DateFormatter().string(from: start.addingTimeInterval(Double(i) * 60))
            return [
                "id": .string("aWdfZAG06conv\(i)"), "message": .string(m.text), "created_time": .string(time),
                "from": ["id": .string(m.fromCustomer ? igsid : businessId)],
            ]
        }
        state.withLock { $0.conversations[igsid] = items.reversed() }
    }

    /// From now on every accepted text is echoed to `delivery.webhookURL` (nil: no echoes, the default).
    public func deliverEchoes(_ delivery: EchoDelivery?) {
        state.withLock { $0.echoes = delivery }
    }

    /// Whether accepted texts show in the Conversations API (on by default, as with Meta).
    public func recordSentMessagesInConversations(_ on: Bool) {
        state.withLock { $0.recordsConversations = on }
    }

    /// The next `count` texts are accepted (recorded, echoed, in the conversation) but answered with a retryable
    /// 500, as when Meta's answer is lost after it took the message.
    public func loseAnswersAfterAccepting(_ count: Int) {
        state.withLock { $0.lostAnswers += max(0, count) }
    }

    /// Echo webhooks the daemon answered 200.
    public var echoesDelivered: Int { state.withLock { $0.echoesDelivered } }

    /// What `GET /me` answers for the expected token (by default `WebhookBuilder.accountId`, @dmdesk_demo_shop).
    public func setAccount(_ account: Account) {
        state.withLock { $0.account = account }
    }

    /// Every answer's `Date` header is this far from the real time from now on (positive: Meta's clock is ahead,
    /// as when ours is behind). 0, the default, sends the true time.
    public func setClockSkew(_ seconds: TimeInterval) {
        state.withLock { $0.clockSkew = seconds }
    }

    /// Forgets requests, sent messages and queued failures; profiles and the server stay.
    public func reset() {
        state.withLock { state in
            state.requests = []
            state.failures = []
            state.instagramMessages = []
            state.whatsAppMessages = []
            state.senderActionFailures = []
        }
    }

    /// The next `count` typing indicators and seen receipts (`typing_on`, `typing_off`, `mark_seen`) answer `status`
    /// with Meta's error body; other calls are not affected.
    public func failNextSenderActions(_ count: Int, status: Int = 500, code: Int = 2, message: String = "Service temporarily unavailable") {
        let body = JSONValue.object(["error": [
            "message": .string(message), "type": "IGApiException", "code": .number(Double(code)),
            "fbtrace_id": .string(Self.fbtraceId()),
        ]]).encodedString()
        state.withLock { $0.senderActionFailures += repeatElement(InjectedFailure(status: status, body: body, retryAfter: nil), count: max(0, count)) }
    }

    /// What `recipient` saw, in arrival order: accepted texts ("text: …") and sender actions ("typing_on", "react", …).
    public func timeline(of recipient: String) -> [String] {
        instagramMessages().compactMap { body in
            guard body["recipient"]?["id"]?.idString == recipient else { return nil }
            if let text = body["message"]?["text"]?.stringValue { return "text: " + text }
            return body["sender_action"]?.stringValue
        }
    }

    static func isIndicator(_ body: JSONValue?) -> Bool {
        guard let action = body?["sender_action"]?.stringValue else { return false }
        return action == "typing_on" || action == "typing_off" || action == "mark_seen"
    }

    private func enqueue(_ count: Int, _ failure: InjectedFailure) {
        guard count > 0 else { return }
        state.withLock { $0.failures.append(contentsOf: repeatElement(failure, count: count)) }
    }

    // MARK: Answering

    /// Every answer, with Meta's `Date` header (skewed as set).
    private func respond(to request: Request) async throws -> Response {
        var response = try await answer(request)
        let skew = state.withLock { $0.clockSkew }
        response.headers[.date] = LocalHTTPServer.httpDate(Date().addingTimeInterval(skew))
        return response
    }

    private func answer(_ request: Request) async throws -> Response {
        var request = request
        let bodyBuffer = try await request.collectBody(upTo: 4 << 20)
        let bodyData = Data(bodyBuffer.readableBytesView)
        let json = bodyData.isEmpty ? nil : try? JSONValue.parse(bodyData)
        let authorization = request.headers[.authorization]
        let path = request.uri.path
        let method = request.method.rawValue

        let failure = state.withLock { state -> InjectedFailure? in
            state.requests.append(
                RecordedRequest(
                    method: method, path: path, query: request.uri.query ?? "", authorization: authorization,
                    body: json, at: Date()))
            if Self.isIndicator(json), path.hasSuffix("/me/messages"), !state.senderActionFailures.isEmpty {
                return state.senderActionFailures.removeFirst()
            }
            return state.failures.isEmpty ? nil : state.failures.removeFirst()
        }
        if latency > .zero { try? await Task.sleep(for: latency) }

        if let failure {
            var headers: HTTPFields = [.contentType: "application/json; charset=UTF-8"]
            if let retryAfter = failure.retryAfter { headers[.retryAfter] = String(retryAfter) }
            return Response(
                status: .init(code: failure.status), headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: failure.body)))
        }
        var segments = path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        if let revoked = revokedTokenAnswer(authorization: authorization, query: request.uri.query ?? "") { return revoked }
        if request.method == .get, segments == ["refresh_access_token"] {
            return refreshAccessToken(query: request.uri.query ?? "")
        }
        if let expectedToken, authorization != "Bearer \(expectedToken)",
            !state.withLock({ s in authorization.map { s.refreshedTokens.contains(String($0.dropFirst("Bearer ".count))) } ?? false })
        {
            return Self.metaError(
                status: 401, code: 190, subcode: authorization == nil ? nil : 463,
                message: authorization == nil
                    ? "An active access token must be used to query information about the current user."
                    : "Error validating access token: The session is invalid or has expired.",
                type: "OAuthException")
        }

        if let first = segments.first, Self.isVersionSegment(first) { segments.removeFirst() }
        if let answer = conversationsAPI(method: request.method, segments: segments, query: request.uri.query ?? "") {
            return answer
        }

        switch (request.method, segments.count) {
        case (.post, 2) where segments == ["me", "messages"] && json?["recipient"]?["comment_id"] != nil:
            return await privateReply(json)  // FakeGraphAPI+Comments.swift
        case (.post, 2) where segments[1] == "replies":
            return commentReply(segments[0], query: request.uri.query ?? "", body: json)
        case (.post, 2) where segments == ["me", "messages"]:
            let (response, accepted) = instagramSend(json)
            guard let accepted else { return response }
            return await answerAccepted(accepted, response: response)
        case (.get, 2) where segments == ["me", "conversations"]:
            let user = URLComponents(string: "http://x/?" + (request.uri.query ?? ""))?.queryItems?
                .first(where: { $0.name == "user_id" })?.value ?? ""
            guard let messages = state.withLock({ $0.conversations[user] }) else { return Self.json(["data": []]) }
            return Self.json(["data": [["id": .string("conv_" + user), "messages": ["data": .array(messages)]]]])
        case (.get, 1) where segments == ["me"]:
            return me(query: request.uri.query ?? "")
        case (_, 2) where segments == ["me", "messenger_profile"]:
            return messengerProfile(method: request.method, query: request.uri.query ?? "", body: json)
        case (.get, 1) where segments[0] != "me":
            return profile(segments[0])
        case (.post, 2) where segments[1] == "messages":
            return whatsAppSend(json)
        default:
            return Self.metaError(
                status: 400, code: 100,
                message: "Unsupported \(method.lowercased()) request. Object with ID '\(segments.joined(separator: "/"))' does not exist.",
                type: "GraphMethodException")
        }
    }

    /// A message (a text or media by URL) the stand-in took: what its echo and its conversation entry need.
    struct AcceptedText: Sendable {
        var recipient: String
        /// The text, or nil for media.
        var text: String?
        /// Media: its type, echoed with a CDN URL of Meta's as Meta re-hosts what it fetched.
        var attachmentType: String? = nil
        var messageId: String
        var at: Date
        var echo: EchoDelivery?
        var loseAnswer: Bool
    }

    /// POST /me/messages: a text, media by URL (`message.attachment`), or a sender action (react, unreact, typing,
    /// seen). A message that is taken comes back with what its echo needs.
    private func instagramSend(_ body: JSONValue?) -> (Response, AcceptedText?) {
        guard let body, let recipient = body["recipient"]?["id"]?.idString, !recipient.isEmpty else {
            return (Self.invalidParameter("param recipient[id] must be non-empty."), nil)
        }
        let text = body["message"]?["text"]?.stringValue
        let action = body["sender_action"]?.stringValue
        if let attachment = body["message"]?["attachment"] {
            if text != nil { return (Self.invalidParameter("param message must have exactly one of text or attachment."), nil) }
            if action != nil { return (Self.invalidParameter("param message and sender_action cannot be sent together."), nil) }
            if let refusal = Self.refusal(of: attachment) { return (refusal, nil) }
            let accepted = accept(body, recipient: recipient, text: nil, attachmentType: attachment["type"]?.stringValue)
            return (Self.sendAnswer(recipient: recipient, messageId: accepted.messageId), accepted)
        }
        switch (text, action) {
        case (let text?, nil):
            if text.isEmpty { return (Self.invalidParameter("param message[text] must be non-empty."), nil) }
            if text.utf8.count > Self.maxTextBytes {
                return (Self.invalidParameter("Length of param message[text] must be less than or equal to 1000"), nil)
            }
            let accepted = accept(body, recipient: recipient, text: text, attachmentType: nil)
            return (Self.sendAnswer(recipient: recipient, messageId: accepted.messageId), accepted)
        case (nil, let action?):
            switch action {
            case "react":
                guard body["payload"]?["message_id"]?.stringValue != nil,
                    body["payload"]?["reaction"]?.stringValue != nil
                else { return (Self.invalidParameter("param payload must have message_id and reaction."), nil) }
            case "unreact":
                guard body["payload"]?["message_id"]?.stringValue != nil else {
                    return (Self.invalidParameter("param payload[message_id] must be non-empty."), nil)
                }
            case "typing_on", "typing_off", "mark_seen":
                break
            default:
                return (Self.invalidParameter("param sender_action must be one of {react, unreact, typing_on, typing_off, mark_seen}."), nil)
            }
            state.withLock { $0.instagramMessages.append(body) }
            return (Self.json(["recipient_id": .string(recipient)]), nil)
        case (nil, nil):
            return (Self.invalidParameter("param message or sender_action must be provided."), nil)
        case (_?, _?):
            return (Self.invalidParameter("param message and sender_action cannot be sent together."), nil)
        }
    }

    /// Records a message taken: in the sent list, in the recipient's conversation (texts, as the Conversations API
    /// shows them), with the id its answer and echo carry.
    func accept(_ body: JSONValue, recipient: String, text: String?, attachmentType: String?) -> AcceptedText {
        let now = Date()
        return state.withLock { state -> AcceptedText in
            state.instagramMessages.append(body)
            defer { state.nextMessageNumber += 1 }
            let messageId = "m_fake_\(state.nextMessageNumber)"
            if state.recordsConversations, let text {
                let business = state.echoes?.accountId ?? WebhookBuilder.accountId
                let entry: JSONValue = [
                    "id": .string(messageId), "message": .string(text), "created_time": .string(Self.metaTime(now)),
                    "from": ["id": .string(business)],
                ]
                state.conversations[recipient, default: []].insert(entry, at: 0)
            }
            let lose = state.lostAnswers > 0
            if lose { state.lostAnswers -= 1 }
            return AcceptedText(
                recipient: recipient, text: text, attachmentType: attachmentType, messageId: messageId, at: now,
                echo: state.echoes, loseAnswer: lose)
        }
    }

    // MARK: Media by URL, validated as Meta does

    /// Meta's formats and size limits per attachment type (Instagram Messaging, "Send a Message" and "Upload Media"):
    /// image png/jpeg/gif up to 8 MB; video mp4/ogg/avi/mov/webm, audio aac/m4a/wav/mp4, file pdf, up to 25 MB.
    static let attachmentFormats: [String: (extensions: Set<String>, maxBytes: Int)] = [
        "image": (["png", "jpg", "jpeg", "gif"], 8 << 20),
        "video": (["mp4", "ogg", "avi", "mov", "webm"], 25 << 20),
        "audio": (["aac", "m4a", "wav", "mp4"], 25 << 20),
        "file": (["pdf"], 25 << 20),
    ]

    /// The stand-in fetches nothing, so test URLs say what Meta would find there: a host under `.invalid` (RFC 2606:
    /// never resolves) cannot be fetched; `?fake_bytes=N` is the file's size (else 100 KB); the path's extension is
    /// its format (none: taken as a supported one).
    public static let unreachableHostSuffix = ".invalid"
    public static let sizeQueryItem = "fake_bytes"

    /// Meta's refusal of `message.attachment`, or nil when it would take it.
    static func refusal(of attachment: JSONValue) -> Response? {
        guard let type = attachment["type"]?.stringValue, let format = attachmentFormats[type] else {
            return invalidParameter("param message[attachment][type] must be one of {image, video, audio, file}.")
        }
        guard let url = attachment["payload"]?["url"]?.stringValue, !url.isEmpty,
            let components = URLComponents(string: url), let host = components.host,
            ["http", "https"].contains(components.scheme?.lowercased() ?? "")
        else { return invalidParameter("param message[attachment][payload][url] must be a valid URL.") }
        if host.lowercased().hasSuffix(unreachableHostSuffix) {
            return metaError(status: 400, code: 100, subcode: 2018008, message: "(#100) Failed to fetch the file from the url", type: "IGApiException")
        }
        let name = components.path.split(separator: "/").last.map(String.init) ?? ""
        if let dot = name.lastIndex(of: "."), !format.extensions.contains(name[name.index(after: dot)...].lowercased()) {
            return metaError(status: 400, code: 100, subcode: 2018047, message: "(#100) Upload attachment failure.", type: "IGApiException")
        }
        let bytes = components.queryItems?.first(where: { $0.name == sizeQueryItem })?.value.flatMap { Int($0) } ?? 100_000
        if bytes > format.maxBytes {
            return metaError(status: 400, code: 4, subcode: 2018109, message: "(#4) Attachment size exceeds allowable limit", type: "IGApiException")
        }
        return nil
    }

    /// The answer to a text that was taken, with its echo before or after it as configured.
    func answerAccepted(_ accepted: AcceptedText, response: Response) async -> Response {
        let answer = accepted.loseAnswer
            ? Self.metaError(status: 500, code: 1, message: "An unknown error occurred", type: "OAuthException") : response
        guard let echo = accepted.echo else { return answer }
        if echo.beforeAnswer {
            await deliverEcho(accepted, echo)
        } else {
            Task.detached { [self] in
                try? await Task.sleep(for: echo.delay)
                await self.deliverEcho(accepted, echo)
            }
        }
        return answer
    }

    /// Meta's echo shape (`Tests/Fixtures/webhooks/echo.json`), signed, retried until answered 200 or given up.
    private func deliverEcho(_ accepted: AcceptedText, _ echo: EchoDelivery) async {
        let body = WebhookBuilder.envelope(account: echo.accountId, items: [
            [
                "sender": ["id": .string(echo.accountId)], "recipient": ["id": .string(accepted.recipient)],
                "timestamp": .number(Double(Int64(accepted.at.timeIntervalSince1970 * 1000))),
                "message": Self.echoMessage(accepted),
            ]
        ])
        var request = HTTPClientRequest(url: echo.webhookURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Hub-Signature-256", value: WebhookBuilder.sign(body, secret: echo.appSecret))
        request.body = .bytes(ByteBuffer(bytes: body))
        let giveUp = ContinuousClock.now + echo.retryFor
        while true {
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)) {
                _ = try? await response.body.collect(upTo: 1 << 16)
                if response.status == .ok {
                    state.withLock { $0.echoesDelivered += 1 }
                    return
                }
            }
            if ContinuousClock.now >= giveUp || state.withLock({ $0.stopped }) { return }
            try? await Task.sleep(for: echo.retryInterval)
        }
    }

    /// The echo's `message`: the text, or the media with a URL on Meta's CDN (Meta re-hosts what it fetched).
    static func echoMessage(_ accepted: AcceptedText) -> JSONValue {
        var message: [String: JSONValue] = ["mid": .string(accepted.messageId), "is_echo": true]
        if let text = accepted.text { message["text"] = .string(text) }
        if let type = accepted.attachmentType {
            message["attachments"] = [[
                "type": .string(type),
                "payload": ["url": .string("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=\(accepted.messageId)")],
            ]]
        }
        return .object(message)
    }

    /// Meta's `created_time` format, e.g. "2024-11-21T12:00:03+0000" (whole seconds).
    static func metaTime(_ date: Date) -> String {
        // Cheap (every accepted text is stamped): no DateFormatter.
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday))T\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec))+0000"
    }

    /// GET /{igsid}?fields=…: the profile, with a made-up but stable username for ids nobody configured.
    private func profile(_ igsid: String) -> Response {
        let known = state.withLock { $0.profiles[igsid] }
        let name = known.map { $0.name } ?? nil
        let username = known.map { $0.username } ?? "customer_\(igsid.suffix(6))"
        var answer: [String: JSONValue] = [
            "id": .string(igsid),
            "profile_pic": .string("https://scontent.example.invalid/\(igsid).jpg"),
        ]
        if let name { answer["name"] = .string(name) }
        if let username { answer["username"] = .string(username) }
        return Self.json(.object(answer))
    }

    /// GET /me?fields=…: the account the token belongs to, as Meta answers it: `id` always, and of `user_id`,
    /// `username`, `name` the ones asked for (`username` alone when no fields are asked for).
    private func me(query: String) -> Response {
        let account = state.withLock { $0.account }
        let asked = URLComponents(string: "http://x/?" + query)?.queryItems?.first { $0.name == "fields" }?.value?
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? ["username"]
        var answer: [String: JSONValue] = ["id": .string(account.id)]
        for field in asked {
            switch field {
            case "id": break
            case "user_id": answer["user_id"] = .string(account.id)
            case "username": answer["username"] = .string(account.username)
            case "name": answer["name"] = .string(account.name)
            default:
                return Self.metaError(
                    status: 400, code: 100, message: "(#100) Tried accessing nonexisting field (\(field)) on node type (User)",
                    type: "IGApiException")
            }
        }
        return Self.json(.object(answer))
    }

    /// POST /{phone_number_id}/messages: WhatsApp Cloud API text or template.
    private func whatsAppSend(_ body: JSONValue?) -> Response {
        guard let body, body["messaging_product"]?.stringValue == "whatsapp" else {
            return Self.invalidParameter("The parameter messaging_product is required.")
        }
        guard let to = body["to"]?.idString, !to.isEmpty else {
            return Self.invalidParameter("The parameter to is required.")
        }
        switch body["type"]?.stringValue ?? "text" {
        case "text":
            guard let text = body["text"]?["body"]?.stringValue, !text.isEmpty else {
                return Self.invalidParameter("The parameter text['body'] is required.")
            }
        case "template":
            guard body["template"]?["name"]?.stringValue != nil,
                body["template"]?["language"]?["code"]?.stringValue != nil
            else { return Self.invalidParameter("The parameter template['name'] and ['language']['code'] are required.") }
        default:
            return Self.invalidParameter("The parameter type must be text or template.")
        }
        let number = state.withLock { state in
            state.whatsAppMessages.append(body)
            defer { state.nextMessageNumber += 1 }
            return state.nextMessageNumber
        }
        return Self.json([
            "messaging_product": "whatsapp",
            "contacts": [["input": .string(to), "wa_id": .string(to)]],
            "messages": [["id": .string("wamid.fake\(number)")]],
        ])
    }

    // MARK: Helpers

    private static func isVersionSegment(_ segment: String) -> Bool {
        guard segment.hasPrefix("v"), segment.count > 1 else { return false }
        return segment.dropFirst().allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
    }

    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json; charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }

    /// `json(["recipient_id": …, "message_id": …])`, the same bytes, written directly (the answer to every send,
    /// so the stand-in stays cheap under load); ids that would need escaping take the encoder.
    private static func sendAnswer(recipient: String, messageId: String) -> Response {
        func plain(_ s: String) -> Bool { s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "/") } }
        guard plain(recipient), plain(messageId) else {
            return json(["recipient_id": .string(recipient), "message_id": .string(messageId)])
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: "{\"message_id\":\"\(messageId)\",\"recipient_id\":\"\(recipient)\"}")))
    }

    static func invalidParameter(_ message: String) -> Response {
        metaError(status: 400, code: 100, message: "(#100) " + message, type: "IGApiException")
    }

    static func metaError(status: Int, code: Int, subcode: Int? = nil, message: String, type: String) -> Response {
        var error: [String: JSONValue] = [
            "message": .string(message), "type": .string(type), "code": .number(Double(code)),
            "fbtrace_id": .string(fbtraceId()),
        ]
        if let subcode { error["error_subcode"] = .number(Double(subcode)) }
        return json(["error": .object(error)], status: status)
    }

    static func fbtraceId() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return "Fake" + String((0..<19).map { _ in alphabet.randomElement()! })
    }
}
