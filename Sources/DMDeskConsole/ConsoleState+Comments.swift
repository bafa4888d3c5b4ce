import DMDeskCore
import Foundation

/// The comments view's part of the state: the comments under the account's posts, newest first, kept fresh by the
/// `comment.received` and `comment.updated` events.
extension ConsoleState {
    /// A `comments` reply: the whole list, replacing what we had (the selection stays on the same comment).
    public mutating func loadComments(_ list: [CommentView]) {
        let selected = selectedComment?.id
        comments = list.sorted(by: Self.isNewer)
        if let selected, let index = comments.firstIndex(where: { $0.id == selected }) { selectedCommentIndex = index }
        clampCommentSelection()
    }

    /// A new or changed comment, in its place by time.
    public mutating func upsertComment(_ comment: CommentView) {
        let selected = selectedComment?.id
        if let index = comments.firstIndex(where: { $0.id == comment.id }) {
            comments[index] = comment
        } else {
            comments.insert(comment, at: comments.firstIndex { Self.isNewer(comment, $0) } ?? comments.endIndex)
        }
        if let selected, let index = comments.firstIndex(where: { $0.id == selected }) { selectedCommentIndex = index }
        clampCommentSelection()
    }

    public var selectedComment: CommentView? {
        comments.indices.contains(selectedCommentIndex) ? comments[selectedCommentIndex] : nil
    }

    public mutating func moveCommentSelection(by delta: Int) {
        selectedCommentIndex += delta
        clampCommentSelection()
    }

    private mutating func clampCommentSelection() {
        selectedCommentIndex = max(0, min(selectedCommentIndex, comments.count - 1))
    }

    static func isNewer(_ a: CommentView, _ b: CommentView) -> Bool {
        a.timestamp != b.timestamp ? a.timestamp > b.timestamp : a.id > b.id
    }
}

extension ConsoleModel {
    /// `p` / `P` in the comments view: the reply prompt for the highlighted comment, once Meta's limits allow it (a
    /// second private reply, or one after 7 days, is refused here, saying what to do instead).
    mutating func startCommentReply(publicly: Bool) -> [ConsoleAction] {
        guard inbox.showingComments else {
            inbox.notice = Notice("c shows the comments; p / P answer the highlighted one", isError: false)
            return []
        }
        guard let comment = inbox.selectedComment else {
            inbox.notice = Notice("no comment to answer", isError: true)
            return []
        }
        if !publicly {
            if comment.answeredPrivately {
                inbox.notice = Notice(
                    "this comment already has a private reply (one per comment); continue in the DM thread, or P replies publicly",
                    isError: true)
                return []
            }
            let age = nowMillis() - comment.timestamp
            if age > CommentReplyPolicy.privateReplyWindowMillis {
                inbox.notice = Notice(
                    "this comment is \(age / 86_400_000) days old; private replies are allowed within 7 days — P replies publicly",
                    isError: true)
                return []
            }
        }
        let who = comment.fromUsername.map { "@" + Sanitizer.visible($0, newlines: .space) } ?? comment.fromId
        prompt = LineEditor()
        mode = .prompt(.commentReply(comment: comment.id, to: who, publicly: publicly))
        return []
    }
}
