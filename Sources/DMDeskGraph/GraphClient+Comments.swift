import DMDeskCore
import Foundation

/// Answering comments under the account's posts.
extension GraphClient {
    /// A private reply: one DM to the person who wrote comment `commentId`, sent with `recipient.comment_id`
    /// (Meta allows one per comment, within 7 days of it; dmdesk checks both before calling). It lands in their
    /// inbox (or requests) and continues as a DM thread. Meta answers `{recipient_id, message_id}`.
    public func sendPrivateReply(commentId: String, text: String) async throws(GraphError) -> SendResult {
        let body: JSONValue = ["recipient": ["comment_id": .string(commentId)], "message": ["text": .string(text)]]
        let answer = try await instagram(.POST, path: "/me/messages", body: body)
        return SendResult(recipientId: answer["recipient_id"]?.idString, messageId: answer["message_id"]?.idString)
    }

    /// A public reply under comment `commentId` (`POST /{comment-id}/replies?message=…`); Meta answers `{id}`, the
    /// new comment's id, returned as the result's `messageId`.
    public func replyToComment(commentId: String, text: String) async throws(GraphError) -> SendResult {
        let answer = try await instagram(
            .POST, path: "/" + Self.pathSegment(commentId) + "/replies", query: [("message", text)])
        return SendResult(recipientId: nil, messageId: answer["id"]?.idString)
    }
}
