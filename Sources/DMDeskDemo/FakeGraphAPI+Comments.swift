import DMDeskCore
import Foundation
import Hummingbird

/// The stand-in's comments: private replies (`POST /me/messages` with `recipient.comment_id`) and public replies
/// (`POST /{comment-id}/replies?message=…`), with Meta's limits — one private reply per comment, within 7 days of
/// it — and Meta's refusals. A comment must be made known first (`addComment`), as Meta knows the comments under
/// the account's posts; an unknown id gets Meta's "does not exist" error.
///
/// Meta's answers as documented and as developers report them: a private reply answers `{recipient_id,
/// message_id}` (the commenter's IGSID); a public reply `{id}`; a private reply past 7 days is code 10 / subcode
/// 2534022 "This message is sent outside of allowed window."; a second private reply code 10 / subcode 2534014.
extension FakeGraphAPI {
    struct KnownComment: Sendable {
        var fromId: String
        var createdAt: Date
        var privateReplies = 0
        var publicReplies: [String] = []
    }

    /// How many comment calls reached the stand-in, accepted or refused: tests assert dmdesk refused before calling.
    public struct CommentCalls: Sendable, Equatable {
        public var privateReplies = 0
        public var publicReplies = 0
        public init(privateReplies: Int = 0, publicReplies: Int = 0) {
            self.privateReplies = privateReplies
            self.publicReplies = publicReplies
        }
    }

    public static let privateReplyWindow: TimeInterval = 7 * 86_400
    public static let outsideWindowSubcode = 2534022
    public static let alreadyRepliedSubcode = 2534014

    /// Makes comment `id`, written by `fromId` at `createdAt`, known (as if posted under one of the account's posts).
    public func addComment(_ id: String, fromId: String, createdAt: Date = Date()) {
        state.withLock { $0.comments[id] = KnownComment(fromId: fromId, createdAt: createdAt) }
    }

    public var commentCalls: CommentCalls { state.withLock { $0.commentCalls } }

    /// The texts of the private replies accepted for `commentId` (0 or 1).
    public func privateReplies(to commentId: String) -> [String] {
        instagramMessages().compactMap { body in
            guard body["recipient"]?["comment_id"]?.idString == commentId else { return nil }
            return body["message"]?["text"]?.stringValue
        }
    }

    /// The public replies accepted under `commentId`, oldest first.
    public func publicReplies(to commentId: String) -> [String] {
        state.withLock { $0.comments[commentId]?.publicReplies ?? [] }
    }

    func privateReply(_ body: JSONValue?) async -> Response {
        state.withLock { $0.commentCalls.privateReplies += 1 }
        guard let body, let commentId = body["recipient"]?["comment_id"]?.idString, !commentId.isEmpty else {
            return Self.invalidParameter("param recipient[comment_id] must be non-empty.")
        }
        guard let text = body["message"]?["text"]?.stringValue, !text.isEmpty else {
            return Self.invalidParameter("param message[text] must be non-empty.")
        }
        if text.utf8.count > Self.maxTextBytes {
            return Self.invalidParameter("Length of param message[text] must be less than or equal to 1000")
        }
        enum Check { case unknown, tooOld, again, ok(String) }
        let check = state.withLock { state -> Check in
            guard var comment = state.comments[commentId] else { return .unknown }
            if Date().timeIntervalSince(comment.createdAt) > Self.privateReplyWindow { return .tooOld }
            if comment.privateReplies > 0 { return .again }
            comment.privateReplies += 1
            state.comments[commentId] = comment
            return .ok(comment.fromId)
        }
        switch check {
        case .unknown:
            return Self.metaError(
                status: 400, code: 100, subcode: 33,
                message: "Unsupported post request. Object with ID '\(commentId)' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
                type: "GraphMethodException")
        case .tooOld:
            return Self.metaError(
                status: 400, code: 10, subcode: Self.outsideWindowSubcode, message: "(#10) This message is sent outside of allowed window.",
                type: "OAuthException")
        case .again:
            return Self.metaError(
                status: 400, code: 10, subcode: Self.alreadyRepliedSubcode,
                message: "(#10) A private reply has already been sent to this comment.", type: "OAuthException")
        case .ok(let commenter):
            // Taken as a DM to the commenter: in their conversation, echoed like any message the app sends.
            let accepted = accept(body, recipient: commenter, text: text, attachmentType: nil)
            return await answerAccepted(
                accepted, response: Self.json(["recipient_id": .string(commenter), "message_id": .string(accepted.messageId)]))
        }
    }

    func commentReply(_ commentId: String, query: String, body: JSONValue?) -> Response {
        state.withLock { $0.commentCalls.publicReplies += 1 }
        let message = URLComponents(string: "http://x/?" + query)?.queryItems?.first { $0.name == "message" }?.value
            ?? body?["message"]?.stringValue
        guard let message, !message.isEmpty else { return Self.invalidParameter("The parameter message is required.") }
        let id = state.withLock { state -> String? in
            guard var comment = state.comments[commentId] else { return nil }
            defer { state.nextMessageNumber += 1 }
            comment.publicReplies.append(message)
            state.comments[commentId] = comment
            return "1789\(state.nextMessageNumber)"
        }
        guard let id else {
            return Self.metaError(
                status: 400, code: 100, subcode: 33,
                message: "Unsupported post request. Object with ID '\(commentId)' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
                type: "GraphMethodException")
        }
        return Self.json(["id": .string(id)])
    }
}
