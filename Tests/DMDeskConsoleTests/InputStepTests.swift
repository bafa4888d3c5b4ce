import DMDeskCore
@testable import DMDeskConsole
import Testing

// The input step without a terminal: keys, the model and a screen size in; the model changed and actions out.

private let wide = ScreenSize(rows: 30, cols: 100)  // two panes
private let narrow = ScreenSize(rows: 20, cols: 60)  // one pane at a time

private func inbound(_ id: String, thread: String, text: String, at: EpochMillis) -> MessageView {
    MessageView(id: id, thread: thread, mid: id, direction: .inbound, author: .customer, text: text, timestamp: at)
}

private func typing(_ text: String) -> [Key] { text.map { .char($0) } }

/// Connected, with threads "a" (newest; a person handles it) and "b", and a's history: two customer messages.
private func inboxModel(historyPageSize: Int = 200) -> ConsoleModel {
    var model = ConsoleModel(historyPageSize: historyPageSize)
    _ = model.connected(hello: nil)
    model.inbox.loadThreads([
        ThreadSummary(id: "a", name: "Ana", mode: .human, lastAt: 300), ThreadSummary(id: "b", name: "Bo", lastAt: 100),
    ])
    model.historyArrived(
        thread: "a", [inbound("m1", thread: "a", text: "hi", at: 200), inbound("m2", thread: "a", text: "anyone?", at: 300)],
        steps: [])
    return model
}

@Suite struct ComposeAndSendTests {
    @Test func sendProducesASendRequestAndClearsTheDraft() {
        var model = inboxModel()
        #expect(
            model.handle([.enter], screen: wide) == [.request(.opened(thread: "a"))],
            "history loaded and nothing unread: only that the operator opened it (for DMDESK_MARK_SEEN)")
        #expect(DaemonRequest.opened(thread: "a").controlRequest == ControlRequest(id: .null, type: .open, thread: "a"))
        #expect(model.inbox.openThreadID == "a")
        #expect(model.handle([.char("r")] + typing("On its way 📦"), screen: wide) == [])
        #expect(model.mode == .compose)
        #expect(model.drafts["a"]?.text == "On its way 📦")
        let actions = model.handle([.enter], screen: wide)
        #expect(actions == [.request(.send(thread: "a", text: "On its way 📦"))])
        #expect(model.drafts["a"] == nil)
        #expect(model.mode == .compose, "the compose line stays open for the next message")
        #expect(DaemonRequest.send(thread: "a", text: "On its way 📦").controlRequest
            == ControlRequest(id: .null, type: .send, thread: "a", text: "On its way 📦"))
    }

    @Test func textTypedAndSentInOneBatchGoesOutWhole() {
        var model = inboxModel()
        let actions = model.handle([.enter, .char("i")] + typing("  👨‍👩‍👧 ok\n") + [.enter], screen: wide)
        #expect(
            actions == [.request(.opened(thread: "a")), .request(.send(thread: "a", text: "👨‍👩‍👧 ok"))],
            "trimmed, the family one character")
    }

    @Test func aRefusedSendRestoresTheDraft() {
        var model = inboxModel()
        _ = model.handle([.enter, .char("r")] + typing("late reply") + [.enter], screen: wide)
        #expect(model.drafts["a"] == nil)
        let refusal = ServerLine.error(id: 7, ControlError(code: "window_closed", message: "the 24-hour window has closed"))
        #expect(model.replied(refusal, to: .send(thread: "a", text: "late reply")) == [])
        #expect(model.drafts["a"]?.text == "late reply")
        #expect(model.inbox.notice?.text == "send refused: the 24-hour window has closed")
        #expect(model.inbox.notice?.isError == true)
    }

    @Test func aSendThatCouldNotBeWrittenOrWasLostComesBack() {
        var model = inboxModel()
        _ = model.handle([.enter, .char("r")] + typing("first") + [.enter], screen: wide)
        model.requestNotSent(.send(thread: "a", text: "first"))
        #expect(model.drafts["a"]?.text == "first", "the controller could not write it")

        _ = model.handle([.enter], screen: wide)
        #expect(model.drafts["a"] == nil)
        model.connectionLost(unanswered: [.send(thread: "a", text: "first")], reason: nil)
        #expect(model.drafts["a"]?.text == "first", "written, but the connection dropped before the reply")
        #expect(model.inbox.notice?.text == "not sent (connection lost); your text is back in the draft")
        #expect(model.inbox.connection == .reconnecting(attempt: 0))
    }

    @Test func nothingIsSentWhileDisconnectedOrOverTheLimit() {
        var model = inboxModel()
        _ = model.handle([.enter, .char("r")] + typing(String(repeating: "é", count: 501)) + [.enter], screen: wide)
        #expect(model.inbox.notice?.text == "the reply is 1002 bytes; Instagram takes at most 1000")
        #expect(model.drafts["a"]?.text.count == 501)

        var away = inboxModel()
        away.connectionLost(unanswered: [], reason: nil)
        #expect(away.handle([.enter, .char("r")] + typing("hello") + [.enter], screen: wide) == [])
        #expect(away.drafts["a"]?.text == "hello", "kept: nothing went out")
        #expect(away.inbox.notice?.text == ConsoleModel.notConnected)
    }

    @Test func theNotifyPromptIsPrefilledAndSendsANotifyRequest() {
        var model = inboxModel()
        _ = model.handle([.enter, .char("n")], screen: wide)
        #expect(model.mode == .prompt(.notify(thread: "a")))
        #expect(model.prompt.text == "Ana: anyone?")
        #expect(model.handle([.enter], screen: wide) == [.request(.notify(thread: "a", text: "Ana: anyone?"))])
        #expect(model.mode == .browse)
        model.requestNotSent(.notify(thread: "a", text: "Ana: anyone?"))
        #expect(model.mode == .prompt(.notify(thread: "a")), "not written: the prompt comes back with its text")
        #expect(model.prompt.text == "Ana: anyone?")
    }
}

@Suite struct QuitTests {
    @Test func quitWithADraftAsksYQuitsAnyOtherKeyReturns() {
        var model = inboxModel()
        _ = model.handle([.enter, .char("r")] + typing("half a thought") + [.escape], screen: wide)
        #expect(model.mode == .browse)
        #expect(model.handle([.char("q")], screen: wide) == [])
        #expect(model.mode == .confirmQuit)
        #expect(model.handle([.char("n")], screen: wide) == [], "any other key: no quit")
        #expect(model.mode == .browse)
        #expect(model.drafts["a"]?.text == "half a thought")

        _ = model.handle([.char("q")], screen: wide)
        let selected = model.inbox.selectedThreadID
        #expect(model.handle([.char("y"), .char("j")], screen: wide) == [.quit(status: 0)])
        #expect(model.inbox.selectedThreadID == selected, "keys after the quit are not applied")

        var upper = inboxModel()
        _ = upper.handle([.enter, .char("r")] + typing("x") + [.escape, .char("q")], screen: wide)
        #expect(upper.handle([.char("Y")], screen: wide) == [.quit(status: 0)])
    }

    @Test func quitWithoutADraftQuitsAtOnce() {
        var model = inboxModel()
        _ = model.handle([.enter, .char("r")] + typing("  \n ") + [.escape], screen: wide)
        #expect(model.handle([.char("q")], screen: wide) == [.quit(status: 0)], "white space is not a draft")
    }
}

@Suite struct EscapeAndPaneTests {
    @Test func escClearsTheFilter() {
        var model = inboxModel()
        _ = model.handle([.char("/")] + typing("bo"), screen: wide)
        #expect(model.mode == .prompt(.filter))
        #expect(model.inbox.visibleThreadIDs == ["b"], "the list narrows while typing")
        _ = model.handle([.enter], screen: wide)
        #expect(model.mode == .browse)
        #expect(model.inbox.filter == "bo")
        _ = model.handle([.escape], screen: wide)
        #expect(model.inbox.filter == "")
        #expect(model.inbox.visibleThreadIDs == ["a", "b"])

        _ = model.handle([.char("/")] + typing("an") + [.escape], screen: wide)
        #expect(model.inbox.filter == "", "Esc in the prompt clears it too")
        #expect(model.mode == .browse)
    }

    @Test func onePaneOpensTheConversationAndEscGoesBackToTheList() {
        var model = inboxModel()
        _ = model.handle([.enter], screen: narrow)
        #expect(model.inbox.focus == .conversation)
        _ = model.handle([.escape], screen: narrow)
        #expect(model.inbox.focus == .list)

        var twoPanes = inboxModel()
        _ = twoPanes.handle([.enter], screen: wide)
        #expect(twoPanes.inbox.focus == .list, "both panes show: the list keeps the focus")
        _ = twoPanes.handle([.tab, .escape], screen: wide)
        #expect(twoPanes.inbox.focus == .conversation, "Esc has nothing to go back to with two panes")
    }

    @Test func threadCommandsActOnTheHighlightedRowOnlyWhenTheListShows() {
        var model = inboxModel()
        _ = model.handle([.enter, .char("j")], screen: wide)  // a open, b highlighted
        #expect(model.handle([.char("t")], screen: wide) == [.request(.threadAction(.takeOver, thread: "b"))])

        var onePane = inboxModel()
        _ = onePane.handle([.enter], screen: narrow)
        #expect(onePane.handle([.char("a")], screen: narrow) == [.request(.threadAction(.handBack, thread: "a"))])
        #expect(onePane.handle([.char("x")], screen: narrow) == [.request(.threadAction(.resolve, thread: "a"))])
    }

    @Test func aPageIsWhatTheScreenShows() {
        var model = ConsoleModel()
        _ = model.connected(hello: nil)
        model.inbox.loadThreads((0..<50).map { ThreadSummary(id: "t\($0)", lastAt: EpochMillis(1000 - $0)) })
        _ = model.handle([.pageDown], screen: wide)
        #expect(model.inbox.selectedThreadIndex == 12, "27 rows: 13 threads, a page moves 12")
        _ = model.handle([.char("g"), .pageDown], screen: narrow)
        #expect(model.inbox.selectedThreadIndex == 7, "17 rows: 8 threads, a page moves 7")
    }
}

@Suite struct ReactionPickerTests {
    /// Thread a open with the conversation focused and the older message (m1) highlighted.
    private func pickerOpen() -> ConsoleModel {
        var model = inboxModel()
        _ = model.handle([.enter, .tab, .char("k")], screen: wide)
        #expect(model.inbox.selectedMessage?.id == "m1")
        #expect(model.handle([.char("e")], screen: wide) == [])
        #expect(model.mode == .reactPicker)
        return model
    }

    @Test(arguments: [
        (Key.char("1"), ReactionChoice.love), (.char("2"), .like), (.char("3"), .laugh), (.char("4"), .wow),
        (.char("5"), .sad), (.char("6"), .angry), (.char("h"), .love), (.enter, .love),
    ])
    func pickerKeysReactToTheSelectedMessage(key: Key, reaction: ReactionChoice) {
        var model = pickerOpen()
        #expect(model.handle([key], screen: wide) == [.request(.react(thread: "a", mid: "m1", reaction: reaction))])
        #expect(model.mode == .browse)
    }

    @Test(arguments: [Key.escape, .char("7"), .char("0"), .char("q"), .tab])
    func anyOtherKeyCancels(key: Key) {
        var model = pickerOpen()
        #expect(model.handle([key], screen: wide) == [])
        #expect(model.mode == .browse)
    }

    @Test func onlyTheCustomersMessagesTakeAReaction() {
        var model = inboxModel()
        _ = model.handle([.char("e")], screen: wide)
        #expect(model.mode == .browse)
        #expect(model.inbox.notice?.text == "open a thread and pick a message to react to")
        let ours = OutboundView(id: 3, thread: "a", kind: .manual, channel: .instagram, status: .sent, text: "hello",
                                attempts: 1, error: nil, remoteId: "r3", author: .operator, createdAt: 400)
        model.inbox.applyOutbound(ours)
        _ = model.handle([.enter, .char("e")], screen: wide)
        #expect(model.mode == .browse)
        #expect(model.inbox.notice?.text == "you can only react to the customer's messages")
    }
}

@Suite struct HelpOverlayTests {
    @Test func helpScrollsToItsEndAndCloses() {
        let screen = ScreenSize(rows: 24, cols: 100)  // not every row fits
        let end = HelpLayout(keyMap: .standard, screen: screen).maxScroll
        #expect(end > 0)
        var model = inboxModel()
        _ = model.handle([.char("?")], screen: screen)
        #expect(model.mode == .help)
        _ = model.handle([.char("j"), .down], screen: screen)
        #expect(model.helpScroll == 2)
        _ = model.handle([.char("k")], screen: screen)
        #expect(model.helpScroll == 1)
        _ = model.handle([.pageDown], screen: screen)
        #expect(model.helpScroll == min(end, 11))
        _ = model.handle(Array(repeating: .char(" "), count: end / 10 + 3), screen: screen)
        #expect(model.helpScroll == end, "stops at the end")
        _ = model.handle([.pageUp], screen: screen)
        #expect(model.helpScroll == max(0, end - 10))
        _ = model.handle(Array(repeating: .up, count: end + 5), screen: screen)
        #expect(model.helpScroll == 0)

        _ = model.handle([.pageDown], screen: screen)
        #expect(model.handle([.char("q")], screen: screen) == [], "q closes the help; it does not quit")
        #expect(model.mode == .browse)
        _ = model.handle([.char("?")], screen: screen)
        #expect(model.helpScroll == 0, "opens at the top")
        _ = model.handle([.escape], screen: screen)
        #expect(model.mode == .browse)
    }

    @Test func aResizeIsNotAKeyPress() {
        var model = inboxModel()
        _ = model.handle([.char("?"), .resize], screen: wide)
        #expect(model.mode == .help, "the controller handles resizes; the help stays open")
    }
}

@Suite struct ConnectionTests {
    @Test func connectingSubscribesThenAsksForAPageThenTheWholeList() {
        var model = ConsoleModel()
        #expect(model.connected(hello: nil) == [
            .request(.subscribe(since: nil)), .request(.threads(limit: 200)), .request(.status), .request(.comments),
        ])
        #expect(model.isConnected)
        let page = (0..<200).map { ThreadSummary(id: "t\($0)", lastAt: EpochMillis($0)) }
        #expect(model.threadsArrived(page, limit: 200) == [.request(.threads(limit: nil))])
        #expect(model.threadsArrived(page, limit: nil) == [])
        #expect(model.threadsArrived(Array(page.prefix(3)), limit: 200) == [], "a short first page is the whole list")

        model.inbox.lastSeq = 41
        model.connectionLost(unanswered: [], reason: "connection lost: reset")
        #expect(model.connected(hello: nil).first == .request(.subscribe(since: 41)), "resumes from the last event")
    }

    @Test func aThreadOpenedWhileAwayLoadsWhenTheDaemonIsBack() {
        var model = inboxModel()
        model.connectionLost(unanswered: [], reason: nil)
        #expect(model.handle([.char("j"), .enter], screen: wide) == [])
        #expect(model.inbox.openThreadID == "b")
        #expect(model.inbox.history["b"] == .loading)
        #expect(model.connected(hello: nil).contains(.request(.history(thread: "b", before: nil, limit: 200))))
    }

    @Test func pagingUpToTheTopLoadsOlderHistory() {
        var model = inboxModel(historyPageSize: 2)  // a's two messages fill a page: there may be older ones
        let top = ConversationPlacement(scroll: 10, selectionShown: false, showsOldest: true)
        #expect(model.conversationDrawn(top) == [], "at the top without paging: nothing asked")
        _ = model.handle([.enter, .tab, .pageUp], screen: wide)
        #expect(model.scrolledByPage)
        #expect(model.conversationDrawn(top) == [.request(.history(thread: "a", before: 200, limit: 2))])
        #expect(!model.scrolledByPage)
        #expect(model.conversationScroll == 10)
        #expect(model.inbox.history["a"] == .loading)
    }
}

@Suite struct KeyTableCompletenessTests {
    @Test func everyContextHasAModeAndEveryCommandAKey() {
        let modes: [InputMode] = [
            .browse, .compose, .prompt(.filter), .prompt(.notify(thread: nil)), .reactPicker, .searchResults, .linkList,
            .snoozePicker(thread: "t"), .confirmQuit, .help,
        ]
        // Finding in a conversation is browsing with a find going (`ConsoleModel.keyContext`), not a mode.
        #expect(Set(modes.map(\.keyContext)).union([.conversationFind]) == Set(KeyContext.allCases))
        #expect(Set(KeyMap.standard.bindings.map(\.command)) == Set(ConsoleCommand.allCases))
    }

    @Test func everyBindingIsReachable() {
        let map = KeyMap.standard
        for binding in map.bindings {
            #expect(binding.isAnyOtherKey == binding.keys.isEmpty)
            for key in binding.keys {
                #expect(map.command(for: key, in: binding.context) == binding.command, "\(key) in \(binding.context)")
            }
            if binding.isAnyOtherKey {
                #expect(map.command(for: .ctrl("z"), in: binding.context) == binding.command)
            }
        }
        #expect(map.command(for: .ctrl("z"), in: .inbox) == nil, "unbound keys in the inbox do nothing")
    }

    @Test func theStepDispatchesThroughTheTable() {
        var bindings = KeyMap.standard.bindings.filter { $0.command != .quit }
        bindings.append(KeyBinding(.inbox, [.char("Q")], .quit, "quit"))
        let rebound = KeyMap(bindings)
        var model = inboxModel()
        #expect(model.handle([.char("q")], screen: wide, keyMap: rebound) == [])
        #expect(model.handle([.char("Q")], screen: wide, keyMap: rebound) == [.quit(status: 0)])

        let noClosing = KeyMap(KeyMap.standard.bindings.filter { $0.command != .closeHelp })
        var help = inboxModel()
        _ = help.handle([.char("?"), .escape], screen: wide, keyMap: noClosing)
        #expect(help.mode == .help, "without the help's \"any other key\" entry, Esc does nothing there")
    }

    @Test func theHelpListsEveryContextAndEveryBinding() {
        let screenshotSize = ScreenSize(rows: 32, cols: 110)
        for screen in [screenshotSize, ScreenSize(rows: 24, cols: 60)] {
            let layout = HelpLayout(keyMap: .standard, screen: screen)
            let rows = layout.columns.flatMap { $0 }
            let headings = rows.compactMap { if case .heading(let title) = $0 { return title } else { return nil } }
            #expect(headings == KeyContext.allCases.map(\.title))
            for binding in KeyMap.standard.bindings {
                #expect(rows.contains(.entry(keys: binding.keysLabel, description: binding.description)), "\(binding.keysLabel)")
            }
        }
        let full = HelpLayout(keyMap: .standard, screen: screenshotSize)
        #expect(full.columns.count == 2)
        // Since the comments, search, hotlist, $EDITOR, find and link keys the table is taller than the screenshots'
        // size shows at once: j/k scroll it (the footer says so). It must stay two columns and within a screenful of
        // scrolling.
        #expect(full.maxScroll < full.visibleRows, "at the screenshots' size one page down shows the rest")
        #expect(HelpLayout(keyMap: .standard, screen: ScreenSize(rows: 24, cols: 60)).columns.count == 1)
    }
}

@Suite struct AttachAndWindowTests {
    private func typing(_ text: String) -> [Key] { text.map { .char($0) } }

    /// Thread "a" (a person handles it), open, its customer's last message `ago` old; HUMAN_AGENT as given.
    private func model(lastInboundAgo ago: EpochMillis, humanAgentTag: Bool) -> ConsoleModel {
        var model = ConsoleModel()
        let hello = ServerLine.hello(daemon: "t", account: nil, listener: "x", humanAgentTag: humanAgentTag)
        _ = model.connected(hello: hello)
        model.inbox.loadThreads([ThreadSummary(id: "a", name: "Ana", mode: .human, lastAt: nowMillis(), lastInboundAt: nowMillis() - ago)])
        model.historyArrived(thread: "a", [], steps: [])
        _ = model.handle([.enter], screen: wide)
        return model
    }

    @Test func ctrlOAttachesByURLWithAGuessedTypeTabChangesIt() {
        var model = model(lastInboundAgo: 60_000, humanAgentTag: false)
        _ = model.handle([.char("r")] + typing("Here it is") + [.ctrl("o")], screen: wide)
        guard case .prompt(.attach("a", nil)) = model.mode else { Issue.record("no attach prompt: \(model.mode)"); return }
        _ = model.handle(typing("https://cdn.example.com/p/hoodie.PNG"), screen: wide)
        #expect(model.mode == .prompt(.attach(thread: "a", type: nil)))
        #expect(PromptKind.attach(thread: "a", type: nil).label(for: model.prompt.text).hasPrefix("Attach image (guessed"))
        _ = model.handle([.ctrl("o")], screen: wide)
        #expect(model.mode == .prompt(.attach(thread: "a", type: .video)), "Ctrl-O again: the next type after the guess")
        let actions = model.handle([.ctrl("o"), .ctrl("o"), .ctrl("o"), .enter], screen: wide)  // audio, file, image
        #expect(actions == [.request(.send(
            thread: "a", text: "Here it is", attachment: OutgoingAttachment(type: .image, url: "https://cdn.example.com/p/hoodie.PNG")))])
        #expect(model.mode == .compose && model.drafts["a"] == nil)
        #expect(DaemonRequest.send(thread: "a", text: "", attachment: OutgoingAttachment(type: .file, url: "https://x.example/a.pdf"))
            .controlRequest == ControlRequest(id: .null, type: .send, thread: "a",
                                              attachment: OutgoingAttachment(type: .file, url: "https://x.example/a.pdf")))
    }

    @Test func aBadURLIsRefusedInTheConsoleAndComesBackOnCtrlO() {
        var model = model(lastInboundAgo: 60_000, humanAgentTag: false)
        let actions = model.handle([.char("r"), .ctrl("o")] + typing("ftp://files.example/a.pdf") + [.enter], screen: wide)
        #expect(actions.isEmpty)
        #expect(model.inbox.notice?.isError == true && model.inbox.notice?.text.contains("http:// or https://") == true)
        #expect(model.mode == .compose)
        _ = model.handle([.ctrl("o")], screen: wide)
        #expect(model.prompt.text == "ftp://files.example/a.pdf")
        _ = model.handle([.escape], screen: wide)
        #expect(model.mode == .compose, "Esc leaves the prompt for the reply it belongs to")
    }

    @Test func aReplyNeitherClockAllowsIsRefusedBeforeSendingSayingWhy() {
        var late = model(lastInboundAgo: 8 * 86_400_000, humanAgentTag: true)
        #expect(late.handle([.char("r")] + typing("still there?") + [.enter], screen: wide).isEmpty)
        #expect(late.inbox.notice?.text == "not sent: the customer last wrote over 7 days ago; Instagram allows no reply until they write again")
        #expect(late.drafts["a"]?.text == "still there?", "the draft is kept")

        var noTag = model(lastInboundAgo: 30 * 3_600_000, humanAgentTag: false)
        #expect(noTag.handle([.char("r")] + typing("late") + [.enter], screen: wide).isEmpty)
        #expect(noTag.inbox.notice?.text.contains("DMDESK_HUMAN_AGENT_TAG=true") == true)

        var tagged = model(lastInboundAgo: 30 * 3_600_000, humanAgentTag: true)
        #expect(tagged.handle([.char("r")] + typing("sorry for the wait") + [.enter], screen: wide)
            == [.request(.send(thread: "a", text: "sorry for the wait"))], "within 7 days a person may reply")
    }

    @Test func bothClocks() {
        let now: EpochMillis = 1_800_000_000_000
        func clocks(_ ago: EpochMillis, _ tag: Bool) -> (String, Bool) {
            let c = TimeFormat.windowClocks(ThreadSummary(id: "a", lastInboundAt: now - ago), humanAgentTag: tag, now: now)
            return (c.text, c.closed)
        }
        #expect(clocks(6 * 3_600_000, true) == ("18h left to reply", false))
        #expect(clocks(2 * 86_400_000 - 3_600_000, true) == ("window closed · 5 d left as human agent", true))
        #expect(clocks(7 * 86_400_000 - 2 * 3_600_000, true) == ("window closed · 2 h left as human agent", true))
        #expect(clocks(8 * 86_400_000, true) == ("window closed · 7 days passed, no reply until they write", true))
        #expect(clocks(2 * 86_400_000, false) == ("24-hour window closed", true))
    }

    @Test func theHelpListsCtrlOFromTheKeyTable() {
        #expect(KeyMap.standard.helpLines().contains { $0.contains("Ctrl-O") && $0.contains("attach") })
        #expect(KeyMap.standard.command(for: .ctrl("o"), in: .editor) == .attach)
        #expect(KeyMap.standard.duplicateKeys().isEmpty)
    }
}
