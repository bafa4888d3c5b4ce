import DMDeskCore
@testable import DMDeskConsole
import Testing

// The hotlist keys: the next thread that needs a person, resolve-and-next, mark all read, and the "new" line.

private let wide = ScreenSize(rows: 30, cols: 100)

private func model(_ threads: [ThreadSummary]) -> ConsoleModel {
    var model = ConsoleModel()
    _ = model.connected(hello: nil)
    model.inbox.loadThreads(threads)
    return model
}

private func opened(_ actions: [ConsoleAction]) -> [String] {
    actions.compactMap { if case .request(.history(let thread, _, _)) = $0 { return thread } else { return nil } }
}

@Suite struct HotlistTests {
    let threads = [
        ThreadSummary(id: "a", name: "Ana", lastAt: 500),
        ThreadSummary(id: "b", name: "Bo", mode: .human, unread: 2, awaitingOperator: true, lastAt: 400),
        ThreadSummary(id: "c", name: "Cy", unread: 1, lastAt: 300),
        ThreadSummary(id: "d", name: "Di", mode: .human, awaitingOperator: true, lastAt: 200),
        ThreadSummary(id: "e", name: "Ed", status: .resolved, awaitingOperator: true, lastAt: 100),
    ]

    @Test func bangJumpsToTheNextThreadThatNeedsAPersonAndWraps() {
        var m = model(threads)
        #expect(opened(m.handle([.char("!")], screen: wide)) == ["b"])
        #expect(m.inbox.openThreadID == "b")
        #expect(opened(m.handle([.char("!")], screen: wide)) == ["d"], "a resolved thread needs nobody")
        _ = m.handle([.char("!")], screen: wide)
        #expect(m.inbox.openThreadID == "b", "wraps around")

        var none = model([ThreadSummary(id: "a", lastAt: 1)])
        #expect(none.handle([.char("!")], screen: wide).isEmpty)
        #expect(none.inbox.notice?.text == "no thread needs you")
    }

    @Test func resolveAndNextResolvesThenOpensWhatNeedsYouOrIsUnread() {
        var m = model(threads)
        _ = m.handle([.char("!")], screen: wide)  // b
        let actions = m.handle([.char("X")], screen: wide)
        #expect(actions.first == .request(.threadAction(.resolve, thread: "b")))
        #expect(opened(actions) == ["d"], "the next that needs you comes before the next unread")

        var unreadOnly = model([
            ThreadSummary(id: "a", name: "Ana", lastAt: 3), ThreadSummary(id: "c", name: "Cy", unread: 1, lastAt: 1),
        ])
        _ = unreadOnly.handle([.enter], screen: wide)  // a
        let next = unreadOnly.handle([.char("X")], screen: wide)
        #expect(next.first == .request(.threadAction(.resolve, thread: "a")))
        #expect(opened(next) == ["c"])
    }

    @Test func markAllReadAsksForEveryListedUnreadThread() {
        var m = model(threads)
        let actions = m.handle([.char("M")], screen: wide)
        #expect(actions == [.request(.markRead(thread: "b")), .request(.markRead(thread: "c"))])
        #expect(m.inbox.notice?.text == "marked 2 threads read")

        m.inbox.setFilter("Cy")
        #expect(m.handle([.char("M")], screen: wide) == [.request(.markRead(thread: "c"))], "only the listed ones")
    }

    @Test func theNewLineGoesAboveTheFirstMessageThatWasUnread() {
        func msg(_ id: String, _ direction: MessageDirection) -> MessageView {
            MessageView(id: id, thread: "b", mid: id, direction: direction, author: direction == .inbound ? .customer : .bot, text: id, timestamp: 1)
        }
        let list = [msg("1", .inbound), msg("2", .outbound), msg("3", .inbound), msg("4", .outbound), msg("5", .inbound)]
        #expect(ConsoleController.firstUnreadIndex(list, unread: 2) == 2, "the last two customer messages")
        #expect(ConsoleController.firstUnreadIndex(list, unread: 1) == 4)
        #expect(ConsoleController.firstUnreadIndex(list, unread: 0) == nil)
        #expect(ConsoleController.firstUnreadIndex(list, unread: 9) == 0, "more unread than loaded: the first customer message")

        var m = model(threads)
        _ = m.handle([.char("!")], screen: wide)
        #expect(m.unreadWhenOpened == ["b": 2], "b had two unread when opened")
    }
}
