import DMDeskCore

/// A request the console sends to the daemon, named for what it asks. The input step produces these; the controller
/// writes them on the socket and routes the reply back to the model with the same value.
enum DaemonRequest: Equatable, Sendable {
    case subscribe(since: Int64?)
    /// The thread list; with a `limit`, the first page (the whole list is asked for when it arrives).
    case threads(limit: Int?)
    case status
    case history(thread: String, before: EpochMillis?, limit: Int)
    /// A reply: the text (may be empty with an attachment), then the media by URL as a message of its own.
    case send(thread: String, text: String, attachment: OutgoingAttachment? = nil)
    case threadAction(ThreadAction, thread: String)
    case markRead(thread: String)
    /// The operator opened the thread (the daemon may tell the customer it was seen).
    case opened(thread: String)
    case notify(thread: String?, text: String)
    case react(thread: String, mid: String, reaction: ReactionChoice)
    case retry(outbound: Int64)
    /// Full-text search across every conversation.
    case search(text: String)
    /// The comments under the account's posts, and a reply to one (private: a DM; public: under the comment).
    case comments
    case commentReply(comment: String, text: String, publicly: Bool)
    /// `z`: until a time (epoch ms), nil meaning until the customer writes; or `cancel` the snooze.
    case snooze(thread: String, until: EpochMillis?, cancel: Bool)

    /// The line on the socket (the client gives it its `id`).
    var controlRequest: ControlRequest {
        switch self {
        case .subscribe(let since): return ControlRequest(id: .null, type: .subscribe, since: since)
        case .threads(let limit): return ControlRequest(id: .null, type: .threads, limit: limit)
        case .status: return ControlRequest(id: .null, type: .status)
        case .history(let thread, let before, let limit):
            return ControlRequest(id: .null, type: .history, thread: thread, before: before, limit: limit)
        case .send(let thread, let text, let attachment):
            return ControlRequest(id: .null, type: .send, thread: thread, text: text.isEmpty ? nil : text, attachment: attachment)
        case .threadAction(let action, let thread): return ControlRequest(id: .null, type: action.requestType, thread: thread)
        case .markRead(let thread): return ControlRequest(id: .null, type: .markRead, thread: thread)
        case .opened(let thread): return ControlRequest(id: .null, type: .open, thread: thread)
        case .notify(let thread, let text): return ControlRequest(id: .null, type: .notify, thread: thread, text: text)
        case .react(let thread, let mid, let reaction):
            return ControlRequest(id: .null, type: .react, thread: thread, mid: mid, reaction: reaction.rawValue)
        case .retry(let outbound): return ControlRequest(id: .null, type: .retry, outbound: outbound)
        case .search(let text): return ControlRequest(id: .null, type: .search, text: text, limit: ConsoleModel.searchLimit)
        case .comments: return ControlRequest(id: .null, type: .comments)
        case .commentReply(let comment, let text, let publicly):
            var request = ControlRequest(id: .null, type: .commentReply, text: text)
            request.comment = comment
            request.public = publicly
            return request
        case .snooze(let thread, let until, let cancel):
            var request = ControlRequest(id: .null, type: .snooze, thread: thread)
            request.until = until
            request.cancel = cancel ? true : nil
            return request
        }
    }
}

/// What `t`, `a` and `x` do to a thread.
enum ThreadAction: Equatable, Sendable {
    case takeOver, handBack, resolve, reopen

    var requestType: ControlRequestType {
        switch self {
        case .takeOver: return .takeover
        case .handBack: return .release
        case .resolve: return .resolve
        case .reopen: return .reopen
        }
    }

    /// As the notices say it: "take over failed: …", "resolve: done".
    var verb: String {
        switch self {
        case .takeOver: return "take over"
        case .handBack: return "hand back"
        case .resolve: return "resolve"
        case .reopen: return "reopen"
        }
    }
}
