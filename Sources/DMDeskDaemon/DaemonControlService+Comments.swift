import DMDeskControl
import DMDeskCore
import DMDeskStore
import Foundation

/// The comments requests: `comments` lists them, `comment_reply` answers one privately or publicly.
extension DaemonControlService {
    func comments(_ r: ControlRequest) async throws -> JSONValue {
        let list = try await store.comments(
            CommentFilter(unansweredOnly: r.unanswered ?? false, limit: min(max(r.limit ?? 500, 1), 5000)))
        return ["comments": .array(list.map { .from($0) })]
    }

    /// Queued through the outbox like a DM (sent once, with retries); Meta's limits are checked by the store
    /// before anything is queued, and a refusal says what to do instead.
    func commentReply(_ r: ControlRequest) async throws -> JSONValue {
        guard let id = r.comment, !id.isEmpty else { throw ControlError.badRequest("comment_reply needs `comment` (a comment id)") }
        let text = (r.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ControlError.badRequest("`text` is empty") }
        let publicly = r.public ?? false
        if !publicly, text.utf8.count > maxMessageBytes {
            throw ControlError(code: "too_long", message: "message is \(text.utf8.count) bytes; Instagram allows \(maxMessageBytes)")
        }
        switch try await store.queueCommentReply(commentId: id, text: text, publicly: publicly, author: .operator, now: nowMillis()) {
        case .failure(let refusal):
            throw ControlError(code: Self.code(refusal), message: refusal.description)
        case .success(let change):
            fanOut.publish(change.events)
            fanOut.submit(change.record)
            if !publicly, let thread = change.record.thread_id {
                await fanOut.redis.pushAsync([ContextTurn(customer: thread, role: .assistant, text: text)])
            }
            var result: [String: JSONValue] = ["outbound": .from(change.record.view)]
            if let comment = try await store.comment(id: id) { result["comment"] = .from(comment) }
            return .object(result)
        }
    }

    static func code(_ refusal: CommentReplyRefusal) -> String {
        switch refusal {
        case .unknownComment: return "not_found"
        case .alreadyRepliedPrivately: return "already_replied"
        case .tooOldForPrivateReply: return "outside_window"
        case .emptyText: return "bad_request"
        }
    }
}
