import DMDeskCore
import Foundation

/// Everything the console shows and the keys change: the inbox as the daemon describes it (`ConsoleState`) and what
/// the operator is doing with it (the input mode, drafts, the prompt, scroll positions). A value with no terminal
/// and no socket: the input step (`handle(_:screen:)`, in Input.swift) and the handlers below change it and return
/// the actions for the controller to carry out, so unit tests drive it directly.
struct ConsoleModel: Sendable {
    var inbox = ConsoleState()
    var mode: InputMode = .browse
    /// Drafts per thread, so switching threads never loses text.
    var drafts: [String: LineEditor] = [:]
    /// The filter or notify prompt's text.
    var prompt = LineEditor()
    /// An attach prompt's URL that was refused (not a URL): the next `Ctrl-O` starts from it.
    var refusedAttachURL: String?
    /// The first help row shown.
    var helpScroll = 0
    /// The last search (`S`): what was asked, what came back, which result is highlighted.
    var search = SearchResults()
    /// `/` in a conversation: the words found there and the highlighted match (nil when not finding).
    var find: ThreadFind?
    /// `o`: the open thread's links, while the list is shown.
    var links: LinkList?
    /// Ctrl-X just opened the editor: a Ctrl-E right after it is the second key of Ctrl-X Ctrl-E, not "end of line".
    var pendingEditorKey = false
    /// The open thread's unread count when it was opened: the conversation draws a "new" line above those messages.
    var unreadWhenOpened: [String: Int] = [:]
    /// Conversation lines hidden below the bottom edge (0 = following the newest message).
    var conversationScroll = 0
    /// Set when the highlighted message moved: the next frame scrolls it into view.
    var keepSelectedMessageVisible = false
    /// Set by PgUp/PgDn: if the next frame shows the oldest loaded message, older history is asked for.
    var scrolledByPage = false
    /// Messages asked for per `history` request.
    let historyPageSize: Int

    /// Threads asked for first: a screenful is drawn from these while the rest (10,000 threads are megabytes of
    /// JSON for the daemon to encode) follows.
    static let firstThreadPage = 200
    static let notConnected = "not connected to the daemon — reconnecting…"
    static let searchLimit = 100

    init(historyPageSize: Int = 200) {
        self.historyPageSize = historyPageSize
    }

    var isConnected: Bool { inbox.connection == .connected }

    /// A draft with more than white space in it: quitting asks first.
    var hasUnsentDraft: Bool {
        drafts.values.contains { !$0.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }

    /// Rows the compose area takes in the open thread: the draft's lines (at most 5) while composing or holding a
    /// draft, else one row of key hints.
    func draftRows(thread: String) -> Int {
        let draft = drafts[thread] ?? LineEditor()
        return mode == .compose || !draft.isEmpty ? min(5, draft.lineCount) : 1
    }

    // MARK: - Requests

    /// The request as an action, if there is a connection to send it on; otherwise says so (nothing is queued).
    mutating func ask(_ request: DaemonRequest) -> [ConsoleAction] {
        guard isConnected else {
            inbox.notice = Notice(Self.notConnected, isError: true)
            return []
        }
        return [.request(request)]
    }

    mutating func requestHistory(_ thread: String, before: EpochMillis? = nil) -> [ConsoleAction] {
        inbox.history[thread] = .loading
        return ask(.history(thread: thread, before: before, limit: historyPageSize))
    }

    /// The controller could not write a request the model already counted as sent: puts the typed text back.
    mutating func requestNotSent(_ request: DaemonRequest) {
        switch request {
        case .send(let thread, let text, _):
            if drafts[thread]?.isEmpty ?? true { drafts[thread] = LineEditor(text) }
        case .notify(let thread, let text):
            if mode == .browse {
                prompt = LineEditor(text)
                mode = .prompt(.notify(thread: thread))
            }
        default:
            break
        }
    }

    // MARK: - Connection

    /// Attached (first time or again): subscribe before asking for the list, so nothing that happens in between is
    /// missed; resume from the last event seen.
    mutating func connected(hello: ServerLine?) -> [ConsoleAction] {
        inbox.connection = .connected
        inbox.hello = hello
        // A history asked for while away was never answered: ask again for the open thread.
        inbox.history = inbox.history.filter { $0.value != .loading }
        var actions: [ConsoleAction] = [
            .request(.subscribe(since: inbox.lastSeq > 0 ? inbox.lastSeq : nil)),
            .request(.threads(limit: Self.firstThreadPage)),
            .request(.status),
            .request(.comments),
        ]
        if let open = inbox.openThreadID, inbox.history[open] == nil { actions += requestHistory(open) }
        return actions
    }

    /// The daemon cannot replay what we missed (retention pruned it, or the database was restored): reload
    /// everything, as on a first attach, and keep working.
    mutating func resync() -> [ConsoleAction] {
        inbox.forgetForResync()
        inbox.notice = Notice("the daemon no longer has the events missed; reloaded", isError: false)
        return connected(hello: inbox.hello)
    }

    /// The socket dropped with these requests unanswered: sends go back into their drafts, loads will be asked again.
    mutating func connectionLost(unanswered: some Sequence<DaemonRequest>, reason: String?) {
        for request in unanswered {
            if case .send(let thread, let text, _) = request, drafts[thread]?.isEmpty ?? true {
                drafts[thread] = LineEditor(text)
                inbox.notice = Notice("not sent (connection lost); your text is back in the draft", isError: true)
            }
        }
        // Anything marked as loading will never get its reply now.
        inbox.history = inbox.history.filter { $0.value != .loading }
        if case .reconnecting = inbox.connection {} else { inbox.connection = .reconnecting(attempt: 0) }
        if let reason { inbox.notice = Notice(reason, isError: true) }
    }

    // MARK: - Replies

    /// The daemon's `ok` or `error` for `request`.
    mutating func replied(_ line: ServerLine, to request: DaemonRequest) -> [ConsoleAction] {
        if line.type == "error" {
            if case .subscribe = request, line.error?.code == ControlError.resyncCode { return resync() }
            refused(request, message: line.error?.message ?? "failed")
            return []
        }
        let result = line.result ?? .null
        switch request {
        case .subscribe:
            if let last = result["last_seq"]?.int64Value, inbox.lastSeq == 0 { inbox.lastSeq = last }
        case .threads(let limit):
            if let list = try? result["threads"]?.decode([ThreadSummary].self) { return threadsArrived(list, limit: limit) }
        case .status:
            if let status = try? result["status"]?.decode(DaemonStatus.self) { inbox.status = status }
        case .history(let thread, _, _):
            let list = (try? result["messages"]?.decode([MessageView].self)) ?? []
            let steps = (try? result["steps"]?.decode([AgentStepView].self)) ?? []
            historyArrived(thread: thread, list, steps: steps)
        case .send, .notify:
            if let outbound = try? result["outbound"]?.decode(OutboundView.self) {
                inbox.applyOutbound(outbound)
                if case .notify = request { inbox.notice = Notice("manager notification queued", isError: false) }
            }
        case .threadAction(let action, _):
            if let summary = try? result["thread"]?.decode(ThreadSummary.self) { inbox.upsertThread(summary) }
            inbox.notice = Notice(action == .takeOver ? "you have this thread — r to reply" : "\(action.verb): done", isError: false)
        case .markRead:
            if let summary = try? result["thread"]?.decode(ThreadSummary.self) { inbox.upsertThread(summary) }
        case .opened: break
        case .react: inbox.notice = Notice("reaction sent", isError: false)
        case .retry: inbox.notice = Notice("retrying…", isError: false)
        case .search(let text):
            let hits = result["hits"]?.arrayValue?.compactMap(SearchHit.init(json:)) ?? []
            guard !hits.isEmpty else {
                inbox.notice = Notice("no messages match “\(text)” — S to search again", isError: false)
                return []
            }
            search = SearchResults(query: text, hits: hits)
            inbox.notice = nil
            if mode == .browse { mode = .searchResults }
        case .comments:
            if let list = try? result["comments"]?.decode([CommentView].self) { inbox.loadComments(list) }
        case .snooze(_, let until, let cancel):
            if let summary = try? result["thread"]?.decode(ThreadSummary.self) { inbox.upsertThread(summary) }
            let when = until.map { "until " + SnoozeTime.describe($0) } ?? "until they write"
            inbox.notice = Notice(cancel ? "snooze ended" : "snoozed \(when) — Z shows snoozed threads", isError: false)
        case .commentReply(_, _, let publicly):
            if let comment = try? result["comment"]?.decode(CommentView.self) { inbox.upsertComment(comment) }
            inbox.notice = Notice(publicly ? "public reply queued" : "private reply queued — it continues as a DM thread", isError: false)
        }
        return []
    }

    /// An `error` reply: says what failed; a refused send goes back into its draft.
    mutating func refused(_ request: DaemonRequest, message: String) {
        switch request {
        case .send(let thread, let text, _):
            if drafts[thread]?.isEmpty ?? true { drafts[thread] = LineEditor(text) }
            inbox.notice = Notice("send refused: \(message)", isError: true)
        case .threadAction(let action, _): inbox.notice = Notice("\(action.verb) failed: \(message)", isError: true)
        case .history(let thread, _, _):
            inbox.history[thread] = .loaded(hasOlder: false)
            inbox.notice = Notice("could not load history: \(message)", isError: true)
        case .notify: inbox.notice = Notice("notify refused: \(message)", isError: true)
        case .react: inbox.notice = Notice("reaction refused: \(message)", isError: true)
        case .retry: inbox.notice = Notice("retry refused: \(message)", isError: true)
        case .search: inbox.notice = Notice("search failed: \(message)", isError: true)
        case .comments: inbox.notice = Notice("could not list comments: \(message)", isError: true)
        case .commentReply: inbox.notice = Notice("reply refused: \(message)", isError: true)
        case .snooze: inbox.notice = Notice("snooze refused: \(message)", isError: true)
        case .subscribe: inbox.notice = Notice("subscribe failed: \(message)", isError: true)
        case .threads: inbox.notice = Notice("could not list threads: \(message)", isError: true)
        case .status, .markRead, .opened: break
        }
    }

    /// A `threads` reply. After the first page, asks for the whole list: only now, so the full list can never
    /// arrive before (and be replaced by) the page.
    mutating func threadsArrived(_ list: [ThreadSummary], limit: Int?) -> [ConsoleAction] {
        inbox.loadThreads(list)
        if let open = inbox.openThreadID { inbox.open(thread: open) }
        if let limit, list.count >= limit { return ask(.threads(limit: nil)) }
        return []
    }

    mutating func historyArrived(thread: String, _ list: [MessageView], steps: [AgentStepView]) {
        inbox.loadHistory(thread: thread, list, steps: steps, limit: historyPageSize)
    }

    // MARK: - The external editor

    /// Back from `$EDITOR`: its text becomes the draft (the compose line stays open to send it); an empty file or an
    /// editor that failed leaves the draft as it was.
    mutating func editorFinished(thread: String, _ result: ExternalEditor.Outcome) {
        switch result {
        case .edited(let text):
            drafts[thread] = LineEditor(text)
            mode = .compose
            inbox.notice = nil
        case .emptied:
            mode = .compose
            // Shown like an error, over the compose hints: the edit did not take effect.
            inbox.notice = Notice("the editor left the file empty: draft unchanged", isError: true)
        case .failed(let why):
            inbox.notice = Notice("editor: \(why)", isError: true)
        }
    }

    // MARK: - After drawing

    /// Where drawing the conversation put it. The scroll position depends on how the messages wrap, which only
    /// drawing knows; the model keeps it so the next PgUp counts from there.
    mutating func conversationDrawn(_ placement: ConversationPlacement) -> [ConsoleAction] {
        conversationScroll = placement.scroll
        if placement.selectionShown { keepSelectedMessageVisible = false }
        let paged = scrolledByPage
        scrolledByPage = false
        return paged && placement.showsOldest ? loadOlderIfNeeded() : []
    }

    /// Asks for the page before the oldest loaded message, if the daemon said there is one.
    mutating func loadOlderIfNeeded() -> [ConsoleAction] {
        guard let thread = inbox.openThreadID, inbox.history[thread] == .loaded(hasOlder: true),
              let oldest = inbox.messages[thread]?.first(where: { !$0.id.hasPrefix("step:") })
        else { return [] }
        return requestHistory(thread, before: oldest.timestamp)
    }
}

/// What a frame's conversation pane came out as.
struct ConversationPlacement: Equatable, Sendable {
    /// Lines hidden below the bottom edge, after keeping the highlighted message in view and clamping.
    var scroll: Int
    /// The highlighted message was brought into view (`keepSelectedMessageVisible` is done).
    var selectionShown: Bool
    /// Scrolled all the way up: the oldest loaded message is on screen.
    var showsOldest: Bool
}
