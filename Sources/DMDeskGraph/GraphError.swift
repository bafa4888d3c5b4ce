import DMDeskCore
import Foundation

/// One failed Graph API call, classified so the outbox knows whether to try again and operators see why.
///
/// Meta answers errors as `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`; those become
/// `.meta`. A failure answer without that body is `.http`, a transport failure `.network`.
public struct GraphError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No answer: connect failure, reset, timeout.
        case network(String)
        /// A non-2xx answer without Meta's error body (a proxy's HTML page, an empty 502).
        case http(status: Int)
        /// A Meta error body; see `code` and `subcode`.
        case meta
        /// Something we need is not set (token, phone number id); no call was made.
        case notConfigured(String)
        /// A 2xx answer we could not read. Not retried: Meta may already have delivered the message.
        case invalidResponse(String)
        /// Refused before any call: Meta's messaging window does not allow this message now (the reason says why).
        case outsideWindow(String)
    }

    public var kind: Kind
    /// HTTP status, when there was an answer.
    public var status: Int?
    public var code: Int?
    public var subcode: Int?
    public var message: String?
    public var type: String?
    public var fbtraceId: String?
    /// Seconds from a `Retry-After` header.
    public var retryAfter: Double?

    public init(
        kind: Kind, status: Int? = nil, code: Int? = nil, subcode: Int? = nil, message: String? = nil,
        type: String? = nil, fbtraceId: String? = nil, retryAfter: Double? = nil
    ) {
        self.kind = kind
        self.status = status
        self.code = code
        self.subcode = subcode
        self.message = message
        self.type = type
        self.fbtraceId = fbtraceId
        self.retryAfter = retryAfter
    }

    public static func network(_ reason: String) -> GraphError { GraphError(kind: .network(reason)) }

    public static func notConfigured(_ what: String) -> GraphError { GraphError(kind: .notConfigured(what)) }

    /// Builds the error for a non-2xx answer: Meta's error body when there is one, else a plain HTTP error.
    public static func fromResponse(status: Int, body: Data, retryAfter: Double? = nil) -> GraphError {
        if let json = try? JSONValue.parse(body), let error = json["error"], error.objectValue != nil {
            return GraphError(
                kind: .meta, status: status,
                code: error["code"]?.int64Value.map { Int($0) },
                subcode: error["error_subcode"]?.int64Value.map { Int($0) },
                message: error["message"]?.stringValue,
                type: error["type"]?.stringValue,
                fbtraceId: error["fbtrace_id"]?.stringValue,
                retryAfter: retryAfter)
        }
        let snippet = String(decoding: body.prefix(200), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return GraphError(
            kind: .http(status: status), status: status, message: snippet.isEmpty ? nil : snippet,
            retryAfter: retryAfter)
    }

    // MARK: Classification

    /// Meta codes that mean "try again later": unknown/temporary errors and rate limits.
    static let retryableCodes: Set<Int> = [1, 2, 4, 17, 341, 613]
    /// Codes that will fail the same way every time, whatever the HTTP status says.
    static let permanentCodes: Set<Int> = [10, 100, 190, 200, 551, 2018300]
    static let outsideWindowSubcodes: Set<Int> = [2534022, 2018278]
    /// 613/2018338: "too many messages to this person" is a per-recipient cap; retrying within seconds can't help.
    static let permanentRateLimitSubcode = 2018338

    /// Why Meta refused a message's media (`message.attachment`), as Meta's Send API errors name it.
    public enum AttachmentRefusal: Sendable, Equatable {
        /// 100/2018008 "Failed to fetch the file from the url": Meta could not download it.
        case unreachable
        /// 100/2018047 "Upload attachment failure": the file is not a format Meta takes for that type (or not that type).
        case unsupported
        /// 2018109 "Attachment size exceeds allowable limit" (code 4 in Meta's table of rate-limit errors).
        case tooLarge

        /// Meta's subcodes for each (https://developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes).
        public static let unreachableSubcode = 2018008
        public static let unsupportedSubcode = 2018047
        public static let tooLargeSubcode = 2018109

        /// The operator's words: what went wrong and what to do.
        public var reason: String {
            switch self {
            case .unreachable:
                return "Instagram could not fetch the attachment from its URL; check that it is public and reachable from the internet"
            case .unsupported:
                return "Instagram does not take this file as that type (image: png, jpeg, gif; video: mp4, ogg, avi, mov, webm; audio: aac, m4a, wav, mp4; file: pdf); check the URL and --type"
            case .tooLarge:
                return "the attachment is larger than Instagram allows (images 8 MB; video, audio and files 25 MB)"
            }
        }
    }

    /// Set when Meta refused the media of a message; never worth retrying (the same file fails the same way).
    public var attachmentRefusal: AttachmentRefusal? {
        guard kind == .meta else { return nil }
        switch subcode {
        case AttachmentRefusal.unreachableSubcode: return .unreachable
        case AttachmentRefusal.unsupportedSubcode: return .unsupported
        case AttachmentRefusal.tooLargeSubcode: return .tooLarge
        default: return nil
        }
    }

    public var isRetryable: Bool {
        switch kind {
        case .network: return true
        case .notConfigured, .invalidResponse, .outsideWindow: return false
        case .http(let status): return status >= 500 || status == 429 || status == 408
        case .meta:
            if attachmentRefusal != nil { return false }
            if let code, Self.permanentCodes.contains(code) { return false }
            if subcode == 2018300 { return false }
            if code == 613 && subcode == Self.permanentRateLimitSubcode { return false }
            if let code, Self.retryableCodes.contains(code) { return true }
            // A Meta body with an unlisted code is permanent, except on a 5xx: the server said it was its fault.
            return (status ?? 0) >= 500
        }
    }

    /// The recipient last wrote more than 24 hours ago (Meta code 10, subcode 2534022 or 2018278).
    public var isOutsideWindow: Bool {
        kind == .meta && code == 10 && subcode.map(Self.outsideWindowSubcodes.contains) == true
    }

    /// The access token is invalid, expired or revoked (code 190): the daemon shows "token invalid".
    public var isTokenInvalid: Bool { kind == .meta && code == 190 }

    /// WhatsApp 131047: more than 24 hours since the recipient wrote; only a template may be sent.
    public var isWhatsAppReengagement: Bool { kind == .meta && code == 131047 }

    /// Another app (e.g. a handover-protocol owner) controls the thread.
    public var isThreadControlledByAnotherApp: Bool { kind == .meta && (code == 2018300 || subcode == 2018300) }

    // MARK: Description

    /// A reason an operator can act on. Built only from Meta's answer, so it never contains our token.
    public var description: String {
        switch kind {
        case .network(let reason):
            return "network error talking to the Graph API: \(reason)"
        case .notConfigured(let what):
            return "\(what) is not configured"
        case .outsideWindow(let reason):
            return "not sent: \(reason)"
        case .invalidResponse(let reason):
            return "unreadable answer from the Graph API: \(reason)"
        case .http(let status):
            var text = "Graph API answered HTTP \(status)"
            if let message { text += ": \(message)" }
            return text
        case .meta:
            return metaDescription
        }
    }

    private var codeLabel: String {
        switch (code, subcode) {
        case (let code?, let subcode?): return "Meta code \(code)/\(subcode)"
        case (let code?, nil): return "Meta code \(code)"
        default: return "Meta error"
        }
    }

    private var metaDescription: String {
        let reason: String
        if isOutsideWindow {
            reason = "outside the 24-hour messaging window"
        } else if let refusal = attachmentRefusal {
            reason = refusal.reason
        } else if isThreadControlledByAnotherApp {
            return appendingDetails(to: "another app controls this thread (code 2018300)")
        } else if isWhatsAppReengagement {
            reason = "WhatsApp recipient outside the 24-hour window; a template message is required"
        } else {
            switch code {
            case 190: reason = "access token invalid or expired"
            case 10: reason = "permission denied for this message"
            case 100: reason = "invalid request parameter"
            case 200: reason = "permission missing for this action"
            case 551: reason = "this person isn't available right now"
            case 613 where subcode == Self.permanentRateLimitSubcode:
                reason = "too many messages sent to this person"
            case 4, 17, 341, 613: reason = "rate limited by Meta"
            case 1, 2: reason = "temporary Meta error"
            default: reason = "Graph API error"
            }
        }
        return appendingDetails(to: "\(reason) (\(codeLabel))")
    }

    private func appendingDetails(to text: String) -> String {
        var text = text
        if let message, !message.isEmpty { text += ": \(message)" }
        if let fbtraceId { text += " [fbtrace_id \(fbtraceId)]" }
        return text
    }
}
