import DMDeskCore
@testable import DMDeskConsole
import Testing

private let wide = ScreenSize(rows: 30, cols: 100)

@Suite struct SnoozeConsoleTests {
    func model() -> ConsoleModel {
        var model = ConsoleModel()
        _ = model.connected(hello: nil)
        model.inbox.loadThreads([
            ThreadSummary(id: "a", name: "Ana", lastAt: 300),
            ThreadSummary(id: "b", name: "Bo", status: .snoozed, lastAt: 200, snoozedUntil: nowMillis() + 3_600_000),
            ThreadSummary(id: "c", name: "Cy", lastAt: 100),
        ])
        return model
    }

    @Test func snoozedThreadsLeaveTheListAndZShowsThem() {
        var m = model()
        #expect(m.inbox.visibleThreadIDs == ["a", "c"])
        _ = m.handle([.char("Z")], screen: wide)
        #expect(m.inbox.visibleThreadIDs == ["a", "b", "c"])
        _ = m.handle([.char("Z")], screen: wide)
        #expect(m.inbox.visibleThreadIDs == ["a", "c"])

        // A snooze ending (thread.updated) brings it back; a new one takes it out.
        m.inbox.upsertThread(ThreadSummary(id: "b", name: "Bo", lastAt: 200, snoozeEndedAt: 5))
        #expect(m.inbox.visibleThreadIDs == ["a", "b", "c"])
        m.inbox.upsertThread(ThreadSummary(id: "a", name: "Ana", status: .snoozed, lastAt: 300))
        #expect(m.inbox.visibleThreadIDs == ["b", "c"])
        #expect(m.inbox.selectedThreadID == "b", "the selection moves off a thread that left")
    }

    @Test func zOffersPresetsUntilReplyAndATypedTime() {
        var m = model()
        _ = m.handle([.char("z")], screen: wide)
        #expect(m.mode == .snoozePicker(thread: "a"))
        let before = nowMillis()
        let actions = m.handle([.char("1")], screen: wide)
        guard case .request(.snooze("a", let until?, false)) = actions.first else {
            Issue.record("\(actions)")
            return
        }
        #expect(abs(until - before - 3_600_000) < 5_000, "1 h from now")
        #expect(m.mode == .browse)

        _ = m.handle([.char("z")], screen: wide)
        #expect(m.handle([.char("r")], screen: wide) == [.request(.snooze(thread: "a", until: nil, cancel: false))])

        _ = m.handle([.char("z"), .char("t")], screen: wide)
        #expect(m.mode == .prompt(.snoozeUntil(thread: "a")))
        #expect(m.handle("lunchtime".map { .char($0) } + [.enter], screen: wide).isEmpty)
        #expect(m.mode == .prompt(.snoozeUntil(thread: "a")), "an unreadable time keeps the prompt")
        #expect(m.inbox.notice?.text.contains("cannot read") == true)
        _ = m.handle([.ctrl("u")] + "2h".map { .char($0) } + [.enter], screen: wide)
        #expect(m.mode == .browse)

        _ = m.handle([.char("z"), .char("q")], screen: wide)
        #expect(m.mode == .browse, "any other key cancels")
    }

    @Test func zOnASnoozedThreadEndsTheSnooze() {
        var m = model()
        _ = m.handle([.char("Z"), .char("j")], screen: wide)
        #expect(m.inbox.selectedThreadID == "b")
        #expect(m.handle([.char("z")], screen: wide) == [.request(.snooze(thread: "b", until: nil, cancel: true))])
    }
}
