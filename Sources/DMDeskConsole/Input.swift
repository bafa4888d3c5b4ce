import DMDeskCore
import Foundation

/// The input step: keys become named commands through `KeyMap` (the context is the input mode's), and commands
/// become changes to the model plus actions for the controller. No curses and no socket here: a function of the
/// keys, the model and the screen size.
extension ConsoleModel {
    /// Applies a batch of keys (everything read in one go) and returns what the controller should do, in order.
    /// Keys after a quit are ignored. `.resize` is the controller's business and is skipped here.
    mutating func handle(_ keys: [Key], screen: ScreenSize, keyMap: KeyMap = .standard) -> [ConsoleAction] {
        var actions: [ConsoleAction] = []
        var index = 0
        while index < keys.count && !actions.contains(where: \.isQuit) {
            let key = keys[index]
            index += 1
            if key == .resize { continue }
            let context = keyContext
            if context == .editor, case .char = key {
                // Typed or pasted text goes in as one insert, so emoji sequences join up at once.
                var text = ""
                index -= 1
                while index < keys.count, case .char(let c) = keys[index] {
                    text.append(c)
                    index += 1
                }
                edit { $0.insert(text) }
            } else if let command = keyMap.command(for: key, in: context) {
                actions += perform(command, key: key, screen: screen, keyMap: keyMap)
            }
            if context == .editor, case .prompt(.filter) = mode { inbox.setFilter(prompt.text) }
        }
        return actions
    }

    /// The key table in force: the input mode's, except that while finding in the open conversation (and looking
    /// at it) `n`, `N` and Esc move between the matches.
    var keyContext: KeyContext {
        if mode == .browse, let find, find.thread == inbox.openThreadID, inbox.focus == .conversation { return .conversationFind }
        return mode.keyContext
    }

    /// In one-pane mode the list is visible only while it has the focus.
    func showsList(_ screen: ScreenSize) -> Bool { screen.isTwoPane || inbox.focus == .list }

    /// The thread a thread-level command acts on: the open one when looking at the conversation, otherwise the
    /// highlighted row.
    func targetThreadID(_ screen: ScreenSize) -> String? {
        if inbox.focus == .conversation || !screen.isTwoPane { return inbox.openThreadID ?? inbox.selectedThreadID }
        return inbox.selectedThreadID ?? inbox.openThreadID
    }

    // MARK: Commands

    private mutating func perform(_ command: ConsoleCommand, key: Key, screen: ScreenSize, keyMap: KeyMap) -> [ConsoleAction] {
        switch command {
        // Inbox
        case .moveDown, .moveUp:
            let delta = command == .moveDown ? 1 : -1
            if inbox.showingComments {
                inbox.moveCommentSelection(by: delta)
            } else if inbox.focus == .list {
                inbox.moveThreadSelection(by: delta)
            } else {
                inbox.moveMessageSelection(by: delta)
                keepSelectedMessageVisible = true
            }
        case .openThread:
            if showsList(screen), let id = inbox.selectedThreadID { return openThread(id, screen: screen) }
        case .switchPane:
            if inbox.focus == .list {
                var actions: [ConsoleAction] = []
                if inbox.openThreadID == nil, let id = inbox.selectedThreadID { actions = openThread(id, screen: screen) }
                if inbox.openThreadID != nil { inbox.focus = .conversation }
                return actions
            }
            inbox.focus = .list
        case .compose:
            var actions: [ConsoleAction] = []
            if inbox.openThreadID == nil
                || (showsList(screen) && inbox.selectedThreadID != inbox.openThreadID && inbox.focus == .list)
            {
                if let id = inbox.selectedThreadID { actions = openThread(id, screen: screen) }
            }
            guard let thread = inbox.openThreadID else { return actions }
            mode = .compose
            if !screen.isTwoPane { inbox.focus = .conversation }
            if inbox.threads[thread]?.mode == .auto {
                inbox.notice = Notice("the bot is handling this thread; t takes it over", isError: false)
            }
            return actions
        case .takeOver: return threadAction(.takeOver, screen: screen)
        case .handBack: return threadAction(.handBack, screen: screen)
        case .resolve:
            guard let id = targetThreadID(screen), let thread = inbox.threads[id] else { return [] }
            return threadAction(thread.status == .resolved ? .reopen : .resolve, screen: screen)
        case .notifyManager:
            let thread = targetThreadID(screen)
            var text = ""
            if let thread, let summary = inbox.threads[thread] {
                let last = inbox.lastCustomerMessage(in: thread)?.text ?? summary.lastText ?? ""
                text = "\(summary.displayName): \(last)"
            }
            prompt = LineEditor(Sanitizer.visible(text, newlines: .space))
            mode = .prompt(.notify(thread: thread))
        case .react:
            guard let message = inbox.selectedMessage else {
                inbox.notice = Notice("open a thread and pick a message to react to", isError: true)
                return []
            }
            guard message.direction == .inbound, message.mid != nil else {
                inbox.notice = Notice("you can only react to the customer's messages", isError: true)
                return []
            }
            mode = .reactPicker
        case .nextUnread:
            if let id = inbox.nextUnreadThreadID() { return openThread(id, screen: screen) }
            inbox.notice = Notice("no unread threads", isError: false)
        case .nextNeedingYou:
            if let id = inbox.nextNeedingOperatorThreadID() { return openThread(id, screen: screen) }
            inbox.notice = Notice("no thread needs you", isError: false)
        case .resolveAndNext:
            guard let id = targetThreadID(screen), let thread = inbox.threads[id] else {
                inbox.notice = Notice("select a thread first", isError: true)
                return []
            }
            var actions = thread.status == .resolved ? [] : ask(.threadAction(.resolve, thread: id))
            if let next = inbox.nextNeedingOperatorThreadID() ?? inbox.nextUnreadThreadID() {
                actions += openThread(next, screen: screen)
            } else {
                inbox.notice = Notice("resolved; nothing else needs you or is unread", isError: false)
            }
            return actions
        case .markAllRead:
            let unread = inbox.visibleThreadIDs.filter { (inbox.threads[$0]?.unread ?? 0) > 0 }
            guard !unread.isEmpty else {
                inbox.notice = Notice("no unread threads", isError: false)
                return []
            }
            guard isConnected else {
                inbox.notice = Notice(Self.notConnected, isError: true)
                return []
            }
            inbox.notice = Notice("marked \(unread.count) thread\(unread.count == 1 ? "" : "s") read", isError: false)
            return unread.map { .request(.markRead(thread: $0)) }
        case .filter:
            if inbox.focus == .conversation || !showsList(screen), let thread = inbox.openThreadID {
                prompt = LineEditor(find?.thread == thread ? find?.query ?? "" : "")
                mode = .prompt(.find(thread: thread))
                return []
            }
            prompt = LineEditor(inbox.filter)
            mode = .prompt(.filter)
            inbox.focus = .list
        case .listLinks:
            guard let thread = inbox.openThreadID else {
                inbox.notice = Notice("open a thread first: o lists its links", isError: true)
                return []
            }
            let list = LinkList.collect(thread: thread, from: inbox.openMessages)
            guard !list.links.isEmpty else {
                inbox.notice = Notice("no links in this conversation", isError: false)
                return []
            }
            links = list
            mode = .linkList
        case .snooze:
            guard let id = targetThreadID(screen), let thread = inbox.threads[id] else {
                inbox.notice = Notice("select a thread first", isError: true)
                return []
            }
            if thread.status == .snoozed { return ask(.snooze(thread: id, until: nil, cancel: true)) }
            mode = .snoozePicker(thread: id)
        case .toggleSnoozed:
            inbox.setShowsSnoozed(!inbox.showsSnoozed)
            let count = inbox.snoozedThreadIDs.count
            inbox.notice = Notice(inbox.showsSnoozed ? "showing snoozed threads (\(count)) — Z hides them" : "snoozed threads hidden", isError: false)
        case .snoozePreset:
            guard case .snoozePicker(let thread) = mode, case .char(let c) = key, let number = c.wholeNumberValue,
                  SnoozeTime.presets.indices.contains(number - 1)
            else { mode = .browse; return [] }
            mode = .browse
            return snooze(thread, SnoozeTime.presets[number - 1].text)
        case .snoozeUntilReply:
            guard case .snoozePicker(let thread) = mode else { return [] }
            mode = .browse
            return ask(.snooze(thread: thread, until: nil, cancel: false))
        case .snoozeTypedTime:
            guard case .snoozePicker(let thread) = mode else { return [] }
            prompt = LineEditor()
            mode = .prompt(.snoozeUntil(thread: thread))
        case .cancelSnooze: mode = .browse
        case .findOlder, .findNewer: moveFind(older: command == .findOlder)
        case .endFind:
            find = nil
            inbox.notice = nil
        case .retryFailed:
            guard let thread = inbox.openThreadID else { return [] }
            let selected = inbox.selectedMessage
            let failed = (selected?.delivery == .failed && selected?.outboundId != nil) ? selected : inbox.lastFailedOutbound(in: thread)
            guard let outboundId = failed?.outboundId else {
                inbox.notice = Notice("nothing to retry in this thread", isError: false)
                return []
            }
            return ask(.retry(outbound: outboundId))
        case .pageUp, .pageDown:
            let sign = command == .pageDown ? 1 : -1
            if inbox.focus == .list && showsList(screen) {
                let page = screen.listCapacity(threadCount: inbox.visibleThreadIDs.count)
                inbox.moveThreadSelection(by: sign * max(1, page - 1))
            } else {
                let page = screen.conversationHeight(draftRows: inbox.openThreadID.map(draftRows) ?? 1)
                conversationScroll = max(0, conversationScroll - sign * max(1, page - 2))
                scrolledByPage = true
            }
        case .top:
            if inbox.focus == .list && showsList(screen) {
                inbox.selectThread(at: 0)
            } else {
                inbox.selectMessage(at: 0)
                keepSelectedMessageVisible = true
                return loadOlderIfNeeded()
            }
        case .bottom:
            if inbox.focus == .list && showsList(screen) {
                inbox.selectThread(at: inbox.visibleThreadIDs.count - 1)
            } else {
                inbox.selectMessage(at: inbox.openMessages.count - 1)
                conversationScroll = 0
            }
        case .toggleComments:
            inbox.showingComments.toggle()
            if inbox.showingComments { return ask(.comments) }
        case .replyComment:
            // p: a private reply (one DM, within 7 days of the comment); P: a public one under it.
            return startCommentReply(publicly: key == .char("P"))
        case .help:
            helpScroll = 0
            mode = .help
        case .searchMessages, .searchAgain:
            prompt = LineEditor(search.query)
            mode = .prompt(.search)

        // Search results
        case .moveResult:
            search.move(by: key == .char("j") || key == .down ? 1 : -1)
        case .openResult:
            mode = .browse
            guard let hit = search.selectedHit else { return [] }
            let actions = openThread(hit.thread, screen: screen)
            inbox.focus = .conversation
            inbox.selectedMessageID = hit.mid
            keepSelectedMessageVisible = true
            return actions
        case .closeResults: mode = .browse

        // The link list
        case .moveLink: links?.move(by: key == .char("j") || key == .down ? 1 : -1)
        case .copyLink:
            mode = .browse
            if case .char(let c) = key, let number = c.wholeNumberValue { links?.selected = number - 1 }
            guard let link = links?.selectedLink else { links = nil; return [] }
            links = nil
            return [.copyToClipboard(link.url)]
        case .closeLinks:
            mode = .browse
            links = nil
        case .quit:
            if hasUnsentDraft { mode = .confirmQuit } else { return [.quit(status: 0)] }
        case .back:
            if !inbox.filter.isEmpty {
                inbox.setFilter("")
            } else if !screen.isTwoPane && inbox.focus == .conversation {
                inbox.focus = .list  // one-pane mode: back to the list
            }

        // Compose line and prompts
        case .send: return submit()
        case .newline:
            if mode == .compose { edit { $0.insertNewline() } }
        case .cancel:
            if case .prompt(.filter) = mode { inbox.setFilter("") }
            // Leaving the attach prompt goes back to the reply it belongs to.
            if case .prompt(.attach) = mode { mode = .compose } else { mode = .browse }
        case .attach:
            // Again in the attach prompt: the next type after the one shown (image → video → audio → file).
            if case .prompt(.attach(let thread, let type)) = mode {
                let all = AttachmentKind.allCases
                let current = type ?? .guess(fromURL: prompt.text)
                mode = .prompt(.attach(thread: thread, type: all[(all.firstIndex(of: current)! + 1) % all.count]))
                return []
            }
            guard mode == .compose, let thread = inbox.openThreadID else { return [] }
            prompt = LineEditor(refusedAttachURL ?? "")
            refusedAttachURL = nil
            mode = .prompt(.attach(thread: thread, type: nil))
        case .externalEditor:
            if mode == .browse {
                // As `r` would: open the selected thread first.
                let actions = perform(.compose, key: key, screen: screen, keyMap: keyMap)
                guard mode == .compose, let thread = inbox.openThreadID else { return actions }
                pendingEditorKey = true
                return actions + [.editDraft(thread: thread)]
            }
            guard mode == .compose, let thread = inbox.openThreadID else { return [] }
            pendingEditorKey = true
            return [.editDraft(thread: thread)]
        case .cursorSideways: edit { key == .left ? $0.moveLeft() : $0.moveRight() }
        case .cursorUp: edit { $0.moveUp() }
        case .cursorDown: edit { $0.moveDown() }
        case .lineStart: edit { $0.moveToLineStart() }
        case .lineEnd:
            // The Ctrl-E of Ctrl-X Ctrl-E (Emacs and bash's "edit in $EDITOR") has been done by Ctrl-X.
            if pendingEditorKey, key == .ctrl("e") { pendingEditorKey = false; return [] }
            edit { $0.moveToLineEnd() }
        case .deleteBack: edit { $0.backspace() }
        case .deleteForward: edit { $0.deleteForward() }
        case .deleteWord: edit { $0.deleteWordBackward() }
        case .deleteToStart: edit { $0.deleteToLineStart() }
        case .deleteToEnd: edit { $0.deleteToLineEnd() }

        // Reaction picker
        case .pickReaction:
            // The key is the reaction's number on the picker line.
            guard case .char(let c) = key, let number = c.wholeNumberValue, ReactionChoice.allCases.indices.contains(number - 1)
            else { mode = .browse; return [] }
            return react(ReactionChoice.allCases[number - 1])
        case .pickHeart: return react(.love)
        case .cancelReaction: mode = .browse

        // Help overlay
        case .helpLineDown: scrollHelp(by: 1, screen: screen, keyMap: keyMap)
        case .helpLineUp: scrollHelp(by: -1, screen: screen, keyMap: keyMap)
        case .helpPageDown: scrollHelp(by: 10, screen: screen, keyMap: keyMap)
        case .helpPageUp: scrollHelp(by: -10, screen: screen, keyMap: keyMap)
        case .closeHelp: mode = .browse

        // Quitting with a draft
        case .quitAnyway: return [.quit(status: 0)]
        case .keepDraft:
            mode = .browse
            inbox.notice = nil
        }
        return []
    }

    private mutating func openThread(_ id: String, screen: ScreenSize) -> [ConsoleAction] {
        var actions: [ConsoleAction] = []
        if find?.thread != id { find = nil }
        let unread = inbox.threads[id]?.unread ?? 0
        let hadUnread = unread > 0
        // Where the "new" marker goes: above the first of the messages that were unread when the thread was opened.
        if inbox.openThreadID != id { unreadWhenOpened = [id: unread] }
        if inbox.openThreadID != id { conversationScroll = 0 }
        inbox.open(thread: id)
        if inbox.history[id] == nil { actions += requestHistory(id) }
        if hadUnread { actions += ask(.markRead(thread: id)) }
        actions += ask(.opened(thread: id))
        if !screen.isTwoPane { inbox.focus = .conversation }
        return actions
    }

    /// A snooze until `when`, read in the operator's time zone.
    private mutating func snooze(_ thread: String, _ when: String) -> [ConsoleAction] {
        switch SnoozeTime.parse(when, now: nowMillis()) {
        case .failure(let problem):
            inbox.notice = Notice(problem.description, isError: true)
            return []
        case .success(let until):
            return ask(.snooze(thread: thread, until: until, cancel: false))
        }
    }

    /// Enter in the find prompt: highlights the newest match (a conversation is read from the bottom up).
    private mutating func startFind(thread: String, query: String) {
        guard !query.isEmpty else { find = nil; return }
        var found = ThreadFind(thread: thread, query: query)
        let ids = found.matchIDs(in: inbox.openMessages)
        guard let newest = ids.last else {
            find = nil
            let older = inbox.history[thread] == .loaded(hasOlder: true) ? "; g loads older messages" : ""
            inbox.notice = Notice("“\(query)” is not in this conversation\(older)", isError: false)
            return
        }
        found.current = newest
        find = found
        inbox.focus = .conversation
        showMatch(newest, of: ids)
    }

    /// `n` (older) and `N` (newer), from the highlighted match; past the last one it starts again at the other end.
    private mutating func moveFind(older: Bool) {
        guard var found = find else { return }
        let ids = found.matchIDs(in: inbox.openMessages)
        guard !ids.isEmpty else {
            inbox.notice = Notice("“\(found.query)” is no longer in this conversation", isError: false)
            return
        }
        let at = found.current.flatMap { ids.firstIndex(of: $0) } ?? ids.count
        var next = older ? at - 1 : at + 1
        var wrapped = false
        if next < 0 { next = ids.count - 1; wrapped = true }
        if next >= ids.count { next = 0; wrapped = true }
        found.current = ids[next]
        find = found
        showMatch(ids[next], of: ids, wrapped: wrapped ? (older ? "back at the newest" : "back at the oldest") : nil)
    }

    private mutating func showMatch(_ id: String, of ids: [String], wrapped: String? = nil) {
        inbox.selectedMessageID = id
        keepSelectedMessageVisible = true
        let position = (ids.firstIndex(of: id) ?? 0) + 1
        let query = find.map { Sanitizer.visible($0.query, newlines: .space) } ?? ""
        inbox.notice = Notice("“\(query)” \(ids.count - position + 1) of \(ids.count)\(wrapped.map { " (" + $0 + ")" } ?? "")"
            + " · n older · N newer · Esc stops", isError: false)
    }

    private mutating func threadAction(_ action: ThreadAction, screen: ScreenSize) -> [ConsoleAction] {
        guard let id = targetThreadID(screen) else {
            inbox.notice = Notice("select a thread first", isError: true)
            return []
        }
        return ask(.threadAction(action, thread: id))
    }

    private mutating func react(_ choice: ReactionChoice) -> [ConsoleAction] {
        mode = .browse
        guard let message = inbox.selectedMessage, let mid = message.mid else { return [] }
        return ask(.react(thread: message.thread, mid: mid, reaction: choice))
    }

    private mutating func scrollHelp(by delta: Int, screen: ScreenSize, keyMap: KeyMap) {
        let end = HelpLayout(keyMap: keyMap, screen: screen).maxScroll
        helpScroll = max(0, min(end, min(helpScroll, end) + delta))
    }

    /// Enter in the compose line or a prompt.
    private mutating func submit() -> [ConsoleAction] {
        switch mode {
        case .compose:
            guard let thread = inbox.openThreadID, drafts[thread] != nil else { return [] }
            return sendReply(thread: thread, attachment: nil)
        case .prompt(.attach(let thread, let type)):
            switch OutgoingAttachment.make(url: prompt.text, type: type) {
            case .failure(let problem):
                // Back to the reply, where the notice shows; Ctrl-O brings the URL back to correct it.
                inbox.notice = Notice(problem.message + " — Ctrl-O to correct it", isError: true)
                refusedAttachURL = prompt.text
                mode = .compose
                return []
            case .success(let attachment):
                let actions = sendReply(thread: thread, attachment: attachment)
                if !actions.isEmpty { mode = .compose }
                return actions
            }
        case .prompt(.filter):
            mode = .browse
            inbox.selectThread(at: 0)
        case .prompt(.snoozeUntil(let thread)):
            let text = prompt.text.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { mode = .browse; return [] }
            let actions = snooze(thread, text)
            // A time that cannot be read keeps the prompt, with the notice saying why.
            if !actions.isEmpty || inbox.notice?.isError != true { mode = .browse }
            return actions
        case .prompt(.find(let thread)):
            mode = .browse
            startFind(thread: thread, query: prompt.text.trimmingCharacters(in: .whitespacesAndNewlines))
        case .prompt(.search):
            mode = .browse
            let text = prompt.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard MessageSearch.fts5(text) != nil else { return [] }
            inbox.notice = Notice("searching for “\(text)”…", isError: false)
            return ask(.search(text: text))
        case .prompt(.commentReply(let comment, _, let publicly)):
            let text = prompt.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { mode = .browse; return [] }
            let actions = ask(.commentReply(comment: comment, text: text, publicly: publicly))
            if !actions.isEmpty { mode = .browse }
            return actions
        case .prompt(.notify(let thread)):
            let text = prompt.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { mode = .browse; return [] }
            let actions = ask(.notify(thread: thread, text: text))
            if !actions.isEmpty { mode = .browse }
            return actions
        default:
            break
        }
        return []
    }

    /// Sends the thread's draft (and the attachment, after it, as a message of its own), once Meta's limits and
    /// window allow it: a reply neither the 24-hour window nor the HUMAN_AGENT tag allows is refused here, saying why.
    private mutating func sendReply(thread: String, attachment: OutgoingAttachment?) -> [ConsoleAction] {
        let text = (drafts[thread]?.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty || attachment != nil else { return [] }
        let bytes = text.utf8.count
        guard bytes <= maxMessageBytes else {
            inbox.notice = Notice("the reply is \(bytes) bytes; Instagram takes at most \(maxMessageBytes)", isError: true)
            return []
        }
        // Unknown here (no customer message seen yet): the daemon decides.
        let policy = SendWindowPolicy(humanAgentTag: inbox.hello?.humanAgentTag ?? false)
        if let last = inbox.threads[thread]?.lastInboundAt, let refusal = policy.refusal(lastInboundAt: last) {
            inbox.notice = Notice("not sent: \(refusal)", isError: true)
            return []
        }
        let actions = ask(.send(thread: thread, text: text, attachment: attachment))
        if !actions.isEmpty {
            drafts[thread] = nil  // back from the request if the daemon refuses it
            conversationScroll = 0
            inbox.selectedMessageID = nil
        }
        return actions
    }

    /// Applies an edit to what is being typed: the open thread's draft or the prompt.
    private mutating func edit(_ change: (inout LineEditor) -> Void) {
        switch mode {
        case .compose:
            guard let thread = inbox.openThreadID else { return }
            change(&drafts[thread, default: LineEditor()])
        case .prompt:
            change(&prompt)
        default:
            break
        }
    }
}
