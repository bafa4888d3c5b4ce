import DMDeskCore
@testable import DMDeskConsole
import Testing

// `/` in a conversation with `n`/`N`, the `o` link list and its OSC 52 copy, and URLs in text as OSC 8 links.

private let wide = ScreenSize(rows: 30, cols: 100)

private func message(_ id: String, _ text: String?, at: EpochMillis, author: MessageAuthor = .customer,
                     attachments: [DMDeskCore.Attachment] = []) -> MessageView {
    MessageView(id: id, thread: "t", mid: id, direction: author == .customer ? .inbound : .outbound, author: author,
                text: text, attachments: attachments, timestamp: at)
}

/// A model with thread "t" open and focused, holding `messages`.
private func openModel(_ messages: [MessageView]) -> ConsoleModel {
    var model = ConsoleModel()
    _ = model.connected(hello: nil)
    model.inbox.loadThreads([ThreadSummary(id: "t", name: "Maria Lopez", lastAt: 1_000)])
    _ = model.handle([.enter], screen: wide)
    model.inbox.loadHistory(thread: "t", messages, limit: 200)
    _ = model.handle([.tab], screen: wide)
    return model
}

private func typing(_ text: String) -> [Key] { text.map { .char($0) } }

@Suite struct FindAndLinksTests {
    let messages = [
        message("m1", "Is the Café open on Sunday?", at: 100),
        message("m2", "Yes, from 10.", at: 200, author: .operator),
        message("m3", "Great, see you at the cafe", at: 300),
        message("m4", "Something else", at: 400),
    ]

    @Test func slashInAConversationFindsTheNewestMatchAndNMovesOlderWrapping() {
        var m = openModel(messages)
        #expect(m.inbox.focus == .conversation)
        _ = m.handle([.char("/")], screen: wide)
        #expect(m.mode == .prompt(.find(thread: "t")), "in the conversation / finds; it does not filter threads")
        _ = m.handle(typing("CAFE") + [.enter], screen: wide)
        #expect(m.inbox.selectedMessageID == "m3", "the newest match first, accents and case ignored")
        #expect(m.keyContext == .conversationFind)
        #expect(m.inbox.notice?.text.hasPrefix("“CAFE” 1 of 2") == true)

        let actions = m.handle([.char("n")], screen: wide)
        #expect(actions.isEmpty, "n moves to a match; it does not notify the manager while finding")
        #expect(m.inbox.selectedMessageID == "m1")
        _ = m.handle([.char("n")], screen: wide)
        #expect(m.inbox.selectedMessageID == "m3", "past the oldest it starts again at the newest")
        #expect(m.inbox.notice?.text.contains("back at the newest") == true)
        _ = m.handle([.char("N")], screen: wide)
        #expect(m.inbox.selectedMessageID == "m1", "N goes the other way, wrapping too")

        _ = m.handle([.char("j")], screen: wide)
        #expect(m.inbox.selectedMessageID == "m2", "other keys keep their inbox meaning while finding")

        _ = m.handle([.escape], screen: wide)
        #expect(m.find == nil && m.keyContext == .inbox)
        _ = m.handle([.char("n")], screen: wide)
        #expect(m.mode == .prompt(.notify(thread: "t")), "after Esc, n notifies again")
    }

    @Test func aMessageArrivingWhileFindingIsFoundAndNoMatchSaysSo() {
        var m = openModel(messages)
        _ = m.handle([.char("/")] + typing("sunday") + [.enter], screen: wide)
        #expect(m.inbox.selectedMessageID == "m1")
        m.inbox.apply(ServerLine.event(JournalEvent(seq: 1, type: EventType.messageReceived, thread: "t",
                                                    data: .from(message("m5", "About Sunday again", at: 500)), at: 500)))
        _ = m.handle([.char("N")], screen: wide)
        #expect(m.inbox.selectedMessageID == "m5")

        _ = m.handle([.char("/")], screen: wide)
        #expect(m.prompt.text == "sunday", "the prompt starts from the last words")
        _ = m.handle(Array(repeating: Key.backspace, count: 6) + typing("refund") + [.enter], screen: wide)
        #expect(m.find == nil)
        #expect(m.inbox.notice?.text == "“refund” is not in this conversation")

        // Opening another thread ends the find; in the thread list / still filters.
        _ = m.handle([.char("/")] + typing("sunday") + [.enter], screen: wide)
        #expect(m.find != nil)
        _ = m.handle([.tab, .char("/")], screen: wide)
        #expect(m.mode == .prompt(.filter))
    }

    @Test func highlightingSplitsOnlyTheMessageText() {
        let row = [Segment("12:00 ", .muted), Segment("Maria ", .customer), Segment("a Café and a cafe", .customer)]
        let out = MessageLayout.highlighting("cafe", in: Array(row.dropFirst(2)))
        #expect(out == [Segment("a ", .customer), Segment("Café", .match), Segment(" and a ", .customer), Segment("cafe", .match)])
        #expect(MessageLayout.highlighting("x", in: [Segment("link", .customer, link: "https://a.example")])
            == [Segment("link", .customer, link: "https://a.example")], "link text is left whole")
    }

    @Test func findingURLsInText() {
        let text = "see https://shop.example/a?b=1. or (https://en.wikipedia.org/wiki/X_(y)), not xhttps://no.example nor ftp://f"
        #expect(LinkFinder.urls(in: text) == ["https://shop.example/a?b=1", "https://en.wikipedia.org/wiki/X_(y)"])
        #expect(LinkFinder.urls(in: "HTTP://UPPER.example/x!") == ["HTTP://UPPER.example/x"])
        #expect(LinkFinder.urls(in: "http://") == [] && LinkFinder.urls(in: "https:// x") == [])
        #expect(LinkFinder.urls(in: "a https://evil.example/␛]52;c;eA==␛\\ b") == ["https://evil.example/"],
                "a URL ends at the first character outside printable ASCII")
    }

    @Test func aWrappedURLIsLinkedWholeOnEveryRowItTakes() {
        let url = "https://shop.example/orders/123456789/track"
        let rows = MessageLayout.linkedRows("track it at " + url + " today", role: .customer, width: 20)
        let linked = rows.flatMap { $0 }.filter { $0.link != nil }
        #expect(linked.count >= 2, "the URL spans rows: \(rows)")
        #expect(linked.allSatisfy { $0.link == url })
        #expect(linked.map(\.text).joined() == url, "each row's part, in order, makes the URL")
        #expect(rows.flatMap { $0 }.map(\.text).joined(separator: "|").contains("today"))
        #expect(MessageLayout.linkedRows("no links here", role: .bot, width: 40) == [[Segment("no links here", .bot)]])
    }

    @Test func oListsTheConversationsLinksNewestFirstOnceEachAndANumberCopiesOne() {
        let cdn = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="
        var m = openModel([
            message("m1", "my order: https://shop.example/o/1", at: 100),
            message("m2", nil, at: 200, attachments: [DMDeskCore.Attachment(type: "image", url: cdn + "photo")]),
            message("m3", "again https://shop.example/o/1 and javascript:alert(1)", at: 300),
            message("m4", nil, at: 400, attachments: [DMDeskCore.Attachment(type: "file", url: "https://evil.example/\u{1B}]8;;x")]),
        ])
        _ = m.handle([.char("o")], screen: wide)
        #expect(m.mode == .linkList)
        #expect(m.links?.links.map(\.url) == ["https://shop.example/o/1", cdn + "photo"],
                "newest first, each once; only strict http(s) links")
        #expect(m.links?.links.map(\.kind) == ["link", "photo"])
        #expect(m.handle([.char("2")], screen: wide) == [.copyToClipboard(cdn + "photo")])
        #expect(m.mode == .browse && m.links == nil)

        _ = m.handle([.char("o"), .char("j"), .enter], screen: wide)
        _ = m.handle([.char("o")], screen: wide)
        #expect(m.handle([.char("x")], screen: wide).isEmpty, "any other key closes")
        #expect(m.mode == .browse)

        var none = openModel([message("m1", "no links", at: 1)])
        _ = none.handle([.char("o")], screen: wide)
        #expect(none.mode == .browse && none.inbox.notice?.text == "no links in this conversation")
    }

    @Test func theKeyTableHasTheNewContextsAndNoDuplicates() {
        let keys = KeyMap.standard
        #expect(keys.duplicateKeys().isEmpty)
        #expect(keys.command(for: .char("n"), in: .conversationFind) == .findOlder)
        #expect(keys.command(for: .char("t"), in: .conversationFind) == .takeOver, "the rest falls through to the inbox")
        #expect(keys.command(for: .char("o"), in: .inbox) == .listLinks)
        #expect(keys.command(for: .char("7"), in: .linkList) == .copyLink)
        #expect(keys.helpLines().contains { $0.hasPrefix("Finding in a conversation") })
    }
}
