import DMDeskCore
import DMDeskStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The ingestion service's API (`/api/internal/*`, guarded by `x-service-token`) and the account-linking page
/// `GET /verify?token=…&ig_id=…`.
struct InternalRoutes: Sendable {
    static let maxBodyBytes = 256 << 10
    /// The seed ingestion service's kind for a free-text DM (see `sendDM`).
    static let customKind = "custom"
    /// How long send endpoints wait for Meta's answer before replying "still sending".
    static let sendWait: Duration = .seconds(30)

    let store: any InboxStore
    let config: DMDeskConfig
    let logger: Logger
    let fanOut: FanOut
    let ingest: IngestPipeline

    func register(on router: Router<BasicRequestContext>) {
        router.get("/verify") { request, _ in await self.verify(request) }
        router.post("/api/internal/ingest-event") { request, _ in
            await self.guarded(request) { body in try await self.ingestEvent(body) }
        }
        router.post("/api/internal/generate-verification") { request, _ in
            await self.guarded(request) { body in try await self.generateVerification(body) }
        }
        router.post("/api/internal/send-verification-dm") { request, _ in
            await self.guarded(request) { body in try await self.sendVerificationDM(body) }
        }
        router.post("/api/internal/send-dm") { request, _ in
            await self.guarded(request) { body in try await self.sendDM(body) }
        }
    }

    // MARK: - guard and body

    /// A request problem answered as JSON: `{"success":false,"error":"…","field":"…"}`.
    struct Problem: Error {
        var status: HTTPResponse.Status
        var message: String
        var field: String?

        static func field(_ name: String, _ why: String) -> Problem { Problem(status: .badRequest, message: "`\(name)` \(why)", field: name) }
    }

    func guarded(_ request: Request, _ handle: (JSONValue) async throws -> JSONValue) async -> Response {
        guard let expected = config.internalServiceToken else {
            return Self.json(.notFound, ["success": false, "error": "not found"])
        }
        guard let given = request.headers[.xServiceToken], Crypto.constantTimeEqual(given, expected) else {
            logger.warning("internal API: refused a request without a valid x-service-token", metadata: ["path": "\(request.uri.path)"])
            return Self.json(.unauthorized, ["success": false, "error": "missing or wrong x-service-token"])
        }
        var request = request
        let body: JSONValue
        do {
            let buffer = try await request.collectBody(upTo: Self.maxBodyBytes)
            body = try JSONValue.parse(Data(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            return Self.json(.contentTooLarge, ["success": false, "error": .string("body over \(Self.maxBodyBytes / 1024) KiB")])
        } catch {
            return Self.json(.badRequest, ["success": false, "error": "body is not valid JSON", "field": "body"])
        }
        guard case .object = body else {
            return Self.json(.badRequest, ["success": false, "error": "body must be a JSON object", "field": "body"])
        }
        do {
            return Self.json(.ok, try await handle(body))
        } catch let problem as Problem {
            var answer: [String: JSONValue] = ["success": false, "error": .string(problem.message)]
            if let field = problem.field { answer["field"] = .string(field) }
            return Self.json(problem.status, .object(answer))
        } catch {
            logger.error("internal API failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.json(.internalServerError, ["success": false, "error": .string("\(error)")])
        }
    }

    static func string(_ body: JSONValue, _ name: String, required: Bool = true) throws -> String? {
        guard let value = body[name], value != .null else {
            if required { throw Problem.field(name, "is required") }
            return nil
        }
        // Ids may arrive as numbers; JSONValue.idString renders them without a fraction.
        guard let s = value.idString ?? value.stringValue else { throw Problem.field(name, "must be a string") }
        let trimmed = s.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            if required { throw Problem.field(name, "must not be empty") }
            return nil
        }
        return s
    }

    // MARK: - endpoints

    /// `{mid, sender_ig_id, recipient_ig_id, timestamp, message_text, attachments}` → the webhook path.
    func ingestEvent(_ body: JSONValue) async throws -> JSONValue {
        let mid = try Self.string(body, "mid")!
        let sender = try Self.string(body, "sender_ig_id")!
        let recipient = try Self.string(body, "recipient_ig_id", required: false) ?? config.accountId ?? ""
        let now = nowMillis()
        var timestamp = now
        if let t = body["timestamp"], t != .null {
            let iso = t.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) }
                .map { JSONValue.number(($0.timeIntervalSince1970 * 1000).rounded()) }
            guard let given = WebhookParser.normalizeTimestamp(iso ?? t, now: now) else {
                throw Problem.field("timestamp", "must be epoch milliseconds or an ISO 8601 date, at most a day ahead")
            }
            timestamp = given
        }
        var text: String? = nil
        if let t = body["message_text"], t != .null {
            guard let s = t.stringValue else { throw Problem.field("message_text", "must be a string") }
            text = s
        }
        var attachments: [JSONValue] = []
        if let a = body["attachments"], a != .null {
            guard let list = a.arrayValue else { throw Problem.field("attachments", "must be an array") }
            for item in list {
                guard item.objectValue != nil else { throw Problem.field("attachments", "must be an array of objects") }
                let type = item["type"]?.stringValue ?? "file"
                let url = item["payload"]?["url"]?.stringValue ?? item["url"]?.stringValue
                attachments.append(["type": .string(type), "payload": ["url": url.map { .string($0) } ?? .null]])
            }
        }
        if (text ?? "").isEmpty && attachments.isEmpty {
            throw Problem.field("message_text", "is required when there are no attachments")
        }
        var message: [String: JSONValue] = ["mid": .string(mid)]
        if let text { message["text"] = .string(text) }
        if !attachments.isEmpty { message["attachments"] = .array(attachments) }
        let root: JSONValue = [
            "object": "instagram",
            "entry": [[
                "id": .string(recipient), "time": .number(Double(timestamp)),
                "messaging": [[
                    "sender": ["id": .string(sender)], "recipient": ["id": .string(recipient)],
                    "timestamp": .number(Double(timestamp)), "message": .object(message),
                ]],
            ]],
        ]
        let delivery = try WebhookParser.parse(root, now: now)
        for case .invalid(let reason) in delivery.events.map(\.kind) {
            throw Problem(status: .badRequest, message: reason)
        }
        do {
            _ = try await ingest.submit(delivery.events)
        } catch {
            throw Problem(status: .internalServerError, message: "could not store the event: \(error)")
        }
        return ["success": true, "message": "Event accepted for processing"]
    }

    /// `{ig_id, event_id}` → `{token_hash, expires_at, ig_id}`; the plaintext never leaves the daemon.
    func generateVerification(_ body: JSONValue) async throws -> JSONValue {
        let igId = try Self.string(body, "ig_id")!
        let eventId = try Self.string(body, "event_id")!
        let token = VerificationTokens.generate()
        let hash = VerificationTokens.hash(token)
        // The same event again gets the token it created already.
        let (record, created) = try await store.issueVerificationToken(hash: hash, igId: igId, eventId: eventId)
        if record.ig_id != igId {
            throw Problem(status: .conflict, message: "event \(eventId) already created a token for another account", field: "event_id")
        }
        return [
            "token_hash": .string(record.token_hash), "expires_at": .string(Self.iso(record.expires_at)),
            "ig_id": .string(record.ig_id), "created": .bool(created),
        ]
    }

    /// `{ig_id, token_plain}`: sends the verification link; a token not yet known is stored (hash only) first.
    func sendVerificationDM(_ body: JSONValue) async throws -> JSONValue {
        let igId = try Self.string(body, "ig_id")!
        let token = try Self.string(body, "token_plain")!
        guard token.count >= 16 else { throw Problem.field("token_plain", "is too short (at least 16 characters)") }
        let hash = VerificationTokens.hash(token)
        let link = VerificationTokens.link(template: config.verifyURL, token: token, igId: igId)
        let draft = OutboundDraft(
            thread: igId, recipient: igId, kind: .verification, text: "Please connect your account to continue: \(link)",
            author: .bot)
        let change: OutboxChange
        switch try await store.queueVerificationLink(hash: hash, igId: igId, draft: draft) {
        case .success(let queued): change = queued
        case .failure(.wrongAccount):
            throw Problem(status: .conflict, message: "that token belongs to another account", field: "token_plain")
        case .failure(.used):
            throw Problem(status: .conflict, message: "that token has already been used", field: "token_plain")
        case .failure(.expired):
            throw Problem(status: .gone, message: "that token has expired", field: "token_plain")
        case .failure(let other):
            throw Problem(status: .conflict, message: other.description, field: "token_plain")
        }
        fanOut.publish(change.events)
        fanOut.submit(change.record)
        return try await outcome(of: [change.record])
    }

    /// `{ig_id, message_text, kind}`: a manual DM obeys the 1000-byte limit and the messaging window; other kinds
    /// are split like auto-replies.
    func sendDM(_ body: JSONValue) async throws -> JSONValue {
        let igId = try Self.string(body, "ig_id")!
        guard let rawText = body["message_text"]?.stringValue else {
            throw Problem.field("message_text", body["message_text"] == nil ? "is required" : "must be a string")
        }
        let text = rawText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw Problem.field("message_text", "must not be empty") }
        let kindName = try Self.string(body, "kind", required: false) ?? OutboundKind.manual.rawValue
        let allowed: [OutboundKind] = [.manual, .autoReply, .acknowledgement, .verification]
        // "custom" is the ingestion service's own name for a free-text DM someone wrote (its `sendDM`, and the
        // kind its manual test sends): dmdesk's `manual`, with the same limit and window.
        let kind = kindName == Self.customKind ? .manual : OutboundKind(rawValue: kindName)
        guard let kind, allowed.contains(kind) else {
            throw Problem.field("kind", "must be one of \((allowed.map(\.rawValue) + [Self.customKind]).joined(separator: ", "))")
        }
        var payload: JSONValue = [:]
        var pieces = [text]
        if kind == .manual {
            let bytes = text.utf8.count
            guard bytes <= maxMessageBytes else {
                throw Problem.field("message_text", "is \(bytes) bytes; Instagram allows \(maxMessageBytes) for a manual message")
            }
            let policy = SendWindowPolicy(humanAgentTag: config.humanAgentTag)
            let lastInboundAt = try await store.thread(igId)?.lastInboundAt
            if let refusal = policy.refusal(lastInboundAt: lastInboundAt) {
                throw Problem(status: .unprocessableContent, message: refusal, field: "ig_id")
            }
            if policy.check(lastInboundAt: lastInboundAt, author: .operator) == .humanAgentTag { payload = ["human_agent_tag": true] }
        } else {
            pieces = Responder(config: config).replies(text, thread: igId, kind: kind).compactMap(\.text)
        }
        let author: MessageAuthor = kind == .manual ? .operator : .bot
        let texts = pieces
        let extra = payload
        let changes = try await store.enqueue(
            texts.map { OutboundDraft(thread: igId, recipient: igId, kind: kind, text: $0, payload: extra, author: author) },
            takeOver: false)
        for change in changes { fanOut.publish(change.events) }
        for change in changes { fanOut.submit(change.record) }
        if kind != .verification {
            await fanOut.redis.pushAsync(pieces.map { ContextTurn(customer: igId, role: .assistant, text: $0) })
        }
        return try await outcome(of: changes.map(\.record))
    }

    /// Waits (up to `sendWait`) for the outbox to settle the rows and reports the last one.
    func outcome(of records: [OutboundRecord]) async throws -> JSONValue {
        let ids = records.compactMap(\.id)
        let deadline = ContinuousClock.now + Self.sendWait
        var rows: [OutboundRecord] = []
        while true {
            rows = []
            for id in ids { if let row = try? await store.outbound(id: id) { rows.append(row) } }
            if rows.contains(where: { $0.status == .failed }) || rows.allSatisfy({ $0.status == .sent }) { break }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let last = rows.last
        let failed = rows.first { $0.status == .failed }
        var answer: [String: JSONValue] = [
            "success": .bool(failed == nil && rows.allSatisfy { $0.status == .sent }),
            "remote_message_id": last?.remote_message_id.map { .string($0) } ?? .null,
            "outbound_message_id": last?.id.map { .number(Double($0)) } ?? .null,
        ]
        if rows.count > 1 { answer["outbound_message_ids"] = .array(rows.compactMap(\.id).map { .number(Double($0)) }) }
        if let failed {
            throw Problem(status: .badGateway, message: "Instagram refused the message: \(failed.error ?? "unknown error")", field: nil)
        }
        if !(answer["success"]?.boolValue ?? false) { answer["status"] = "pending"; answer["error"] = "still sending; the outbox keeps trying" }
        return .object(answer)
    }

    // MARK: - /verify

    func verify(_ request: Request) async -> Response {
        let query = request.uri.queryParameters
        guard let token = query["token"].map(String.init), !token.isEmpty else {
            return Self.page(.badRequest, VerificationFailure.missing("token").description)
        }
        guard let igId = query["ig_id"].map(String.init), !igId.isEmpty else {
            return Self.page(.badRequest, VerificationFailure.missing("ig_id").description)
        }
        do {
            switch try await store.consumeVerification(token: token, igId: igId) {
            case .success(let result):
                fanOut.publish(result.events)
                logger.info("profile connected", metadata: ["ig_id": "\(igId)"])
                return Self.page(.ok, "Your Instagram account is connected. You can close this page and go back to the chat.")
            case .failure(let failure):
                let status: HTTPResponse.Status
                switch failure {
                case .missing: status = .badRequest
                case .unknown: status = .notFound
                case .wrongAccount: status = .forbidden
                case .expired: status = .gone
                case .used: status = .conflict
                }
                logger.notice("verification refused", metadata: ["ig_id": "\(igId)", "reason": "\(failure)"])
                return Self.page(status, failure.description)
            }
        } catch {
            return Self.page(.internalServerError, "could not check the link right now; please try again")
        }
    }

    // MARK: - helpers

    static func iso(_ ms: EpochMillis) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }

    static func page(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
