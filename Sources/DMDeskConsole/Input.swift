import DMDeskCore
import Foundation

/// Key handling: keys become named commands through `KeyMap`, and commands become state changes and
/// requests. Nothing here draws.
extension ConsoleController {
    var isTwoPane: Bool { screen.cols >= 80 && screen.rows >= 24 }

    /// The thread a thread-level command acts on: the open one when looking at the conversation,
    /// otherwise the highlighted row.
    var targetThreadID: String? {
        if state.focus == .conversation || !isTwoPane { return state.openThreadID ?? state.selectedThreadID }
        return state.selectedThreadID ?? state.openThreadID
    }

    func handleKeys(_ keys: [Key]) {
        var index = 0
        while index < keys.count && quitStatus == nil {
            let key = keys[index]
            index += 1
            if key == .resize {
                screen.handleResize()
                continue
            }
            switch mode {
            case .help:
                handleHelpKey(key)
            case .confirmQuit:
                if key == .char("y") || key == .char("Y") { quitStatus = 0 } else {
                    mode = .browse
                    state.notice = nil
                }
            case .reactPicker:
                handlePickerKey(key)
            case .compose, .prompt:
                if case .char = key {
                    // Typed or pasted text goes in as one insert, so emoji sequences join up at once.
                    var text = ""
                    index -= 1
                    while index < keys.count, case .char(let c) = keys[index] {
                        text.append(c)
                        index += 1
                    }
                    editCurrent { $0.insert(text) }
                } else if let command = keyMap.command(for: key, in: .editor) {
                    performEditor(command)
                }
                if case .prompt(.filter) = mode { state.setFilter(prompt.text) }
            case .browse:
                if let command = keyMap.command(for: key, in: .inbox) {
                    perform(command)
                } else if key == .escape && !state.filter.isEmpty {
                    state.setFilter("")
                } else if key == .escape && !isTwoPane && state.focus == .conversation {
                    state.focus = .list  // one-pane mode: back to the list
                }
            }
        }
    }

    private func editCurrent(_ change: (inout LineEditor) -> Void) {
        switch mode {
        case .compose:
            guard let thread = state.openThreadID else { return }
            change(&drafts[thread, default: LineEditor()])
        case .prompt:
            change(&prompt)
        default:
            break
        }
    }

    // MARK: Inbox commands

    func perform(_ command: ConsoleCommand) {
        switch command {
        case .moveDown, .moveUp:
            let delta = command == .moveDown ? 1 : -1
            if state.focus == .list {
                state.moveThreadSelection(by: delta)
            } else {
                state.moveMessageSelection(by: delta)
                keepSelectedMessageVisible = true
            }
        case .openThread:
            if showsList, let id = state.selectedThreadID { openThread(id) }
        case .switchPane:
            if state.focus == .list {
                if state.openThreadID == nil, let id = state.selectedThreadID { openThread(id) }
                if state.openThreadID != nil { state.focus = .conversation }
            } else {
                state.focus = .list
            }
        case .compose:
            if state.openThreadID == nil || (showsList && state.selectedThreadID != state.openThreadID && state.focus == .list) {
                if let id = state.selectedThreadID { openThread(id) }
            }
            guard let thread = state.openThreadID else { return }
            mode = .compose
            if !isTwoPane { state.focus = .conversation }
            if state.threads[thread]?.mode == .auto {
                state.notice = Notice("the bot is handling this thread; t takes it over", isError: false)
            }
        case .takeOver: threadAction(.takeover, verb: "take over")
        case .handBack: threadAction(.release, verb: "hand back")
        case .resolve:
            guard let id = targetThreadID, let thread = state.threads[id] else { return }
            if thread.status == .resolved { threadAction(.reopen, verb: "reopen") } else { threadAction(.resolve, verb: "resolve") }
        case .notifyManager:
            let thread = targetThreadID
            var text = ""
            if let thread, let summary = state.threads[thread] {
                let last = state.lastCustomerMessage(in: thread)?.text ?? summary.lastText ?? ""
                text = "\(summary.displayName): \(last)"
            }
            prompt = LineEditor(Sanitizer.visible(text, newlines: .space))
            mode = .prompt(.notify(thread: thread))
        case .react:
            guard let message = state.selectedMessage else {
                state.notice = Notice("open a thread and pick a message to react to", isError: true)
                return
            }
            guard message.direction == .inbound, message.mid != nil else {
                state.notice = Notice("you can only react to the customer's messages", isError: true)
                return
            }
            mode = .reactPicker
        case .nextUnread:
            if let id = state.nextUnreadThreadID() { openThread(id) } else {
                state.notice = Notice("no unread threads", isError: false)
            }
        case .filter:
            prompt = LineEditor(state.filter)
            mode = .prompt(.filter)
            state.focus = .list
        case .retryFailed:
            guard let thread = state.openThreadID else { return }
            let selected = state.selectedMessage
            let failed = (selected?.delivery == .failed && selected?.outboundId != nil) ? selected : state.lastFailedOutbound(in: thread)
            guard let outboundId = failed?.outboundId else {
                state.notice = Notice("nothing to retry in this thread", isError: false)
                return
            }
            send(ControlRequest(id: .null, type: .retry, outbound: outboundId), as: .retry)
        case .pageUp, .pageDown:
            let sign = command == .pageDown ? 1 : -1
            if state.focus == .list && showsList {
                state.moveThreadSelection(by: sign * max(1, lastListCapacity - 1))
            } else {
                conversationScroll -= sign * max(1, lastConversationHeight - 2)
                conversationScroll = max(0, conversationScroll)
                scrolledByPage = true
            }
        case .top:
            if state.focus == .list && showsList { state.selectThread(at: 0) } else {
                state.selectMessage(at: 0)
                keepSelectedMessageVisible = true
                loadOlderIfNeeded(force: true)
            }
        case .bottom:
            if state.focus == .list && showsList { state.selectThread(at: state.visibleThreadIDs.count - 1) } else {
                state.selectMessage(at: state.openMessages.count - 1)
                conversationScroll = 0
            }
        case .help:
            helpScroll = 0
            mode = .help
        case .quit:
            if drafts.values.contains(where: { !$0.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
                mode = .confirmQuit
            } else {
                quitStatus = 0
            }
        default:
            break
        }
    }

    /// In one-pane mode the list is visible only while it has the focus.
    var showsList: Bool { isTwoPane || state.focus == .list }

    func openThread(_ id: String) {
        let hadUnread = (state.threads[id]?.unread ?? 0) > 0
        if state.openThreadID != id { conversationScroll = 0 }
        state.open(thread: id)
        if state.history[id] == nil { requestHistory(id) }
        if hadUnread { send(ControlRequest(id: .null, type: .markRead, thread: id), as: .markRead(thread: id)) }
        if !isTwoPane { state.focus = .conversation }
    }

    private func threadAction(_ type: ControlRequestType, verb: String) {
        guard let id = targetThreadID else {
            state.notice = Notice("select a thread first", isError: true)
            return
        }
        send(ControlRequest(id: .null, type: type, thread: id), as: .threadAction(verb: verb, thread: id))
    }

    /// Asks for the page before the oldest loaded message when the user scrolls to the top.
    func loadOlderIfNeeded(force: Bool = false) {
        guard let thread = state.openThreadID, state.history[thread] == .loaded(hasOlder: true),
              let oldest = state.messages[thread]?.first(where: { !$0.id.hasPrefix("step:") })
        else { return }
        requestHistory(thread, before: oldest.timestamp)
    }

    // MARK: Editor commands

    func performEditor(_ command: ConsoleCommand) {
        switch command {
        case .send: submit()
        case .newline:
            if mode == .compose { editCurrent { $0.insertNewline() } }
        case .cancel:
            if case .prompt(.filter) = mode { state.setFilter("") }
            mode = .browse
        case .cursorLeft: editCurrent { $0.moveLeft() }
        case .cursorRight: editCurrent { $0.moveRight() }
        case .cursorUp: editCurrent { $0.moveUp() }
        case .cursorDown: editCurrent { $0.moveDown() }
        case .lineStart: editCurrent { $0.moveToLineStart() }
        case .lineEnd: editCurrent { $0.moveToLineEnd() }
        case .deleteBack: editCurrent { $0.backspace() }
        case .deleteForward: editCurrent { $0.deleteForward() }
        case .deleteWord: editCurrent { $0.deleteWordBackward() }
        case .deleteToStart: editCurrent { $0.deleteToLineStart() }
        case .deleteToEnd: editCurrent { $0.deleteToLineEnd() }
        default: break
        }
    }

    private func submit() {
        switch mode {
        case .compose:
            guard let thread = state.openThreadID, let draft = drafts[thread] else { return }
            let text = draft.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { return }
            let bytes = text.utf8.count
            guard bytes <= maxMessageBytes else {
                state.notice = Notice("the reply is \(bytes) bytes; Instagram takes at most \(maxMessageBytes)", isError: true)
                return
            }
            if send(ControlRequest(id: .null, type: .send, thread: thread, text: text), as: .send(thread: thread, text: text)) {
                drafts[thread] = nil  // restored from the pending request if the daemon refuses
                conversationScroll = 0
                state.selectedMessageID = nil
            }
        case .prompt(.filter):
            mode = .browse
            state.selectThread(at: 0)
        case .prompt(.notify(let thread)):
            let text = prompt.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { mode = .browse; return }
            if send(ControlRequest(id: .null, type: .notify, thread: thread, text: text), as: .notify) { mode = .browse }
        default:
            break
        }
    }

    // MARK: Overlays

    private func handleHelpKey(_ key: Key) {
        switch key {
        case .char("j"), .down: helpScroll += 1
        case .char("k"), .up: helpScroll = max(0, helpScroll - 1)
        case .pageDown, .char(" "): helpScroll += 10
        case .pageUp: helpScroll = max(0, helpScroll - 10)
        default: mode = .browse
        }
    }

    private func handlePickerKey(_ key: Key) {
        var choice: ReactionChoice? = nil
        if case .char(let c) = key {
            if let digit = c.wholeNumberValue, digit >= 1, digit <= ReactionChoice.allCases.count {
                choice = ReactionChoice.allCases[digit - 1]
            }
            if c == "h" { choice = .love }  // heart
        }
        if key == .enter { choice = .love }
        mode = .browse
        guard let choice, let message = state.selectedMessage, let mid = message.mid else { return }
        send(ControlRequest(id: .null, type: .react, thread: message.thread, mid: mid, reaction: choice.rawValue), as: .react)
    }
}
