import DMDeskCore
@testable import DMDeskConsole
import Testing

private func event(_ seq: Int64, _ name: String, thread: String?, _ data: some Encodable) -> ServerLine {
    ServerLine.event(JournalEvent(seq: seq, type: name, thread: thread, data: .from(data), at: 1_000))
}

private func inbound(_ id: String, thread: String, text: String, at: EpochMillis) -> MessageView {
    MessageView(id: id, thread: thread, mid: id, direction: .inbound, author: .customer, text: text, timestamp: at)
}

@Suite struct ConsoleStateTests {
    @Test func messageReceivedCreatesThreadAndCountsUnread() {
        var state = ConsoleState()
        let outcome = state.apply(event(1, EventType.messageReceived, thread: "t1", inbound("m1", thread: "t1", text: "hi", at: 100)))
        #expect(outcome.changed)
        #expect(state.threads["t1"]?.unread == 1)
        #expect(state.threads["t1"]?.lastText == "hi")
        #expect(state.threads["t1"]?.lastInboundAt == 100)
        #expect(state.sortedThreadIDs == ["t1"])
        #expect(state.selectedThreadID == "t1")
        #expect(state.lastSeq == 1)
        state.apply(event(2, EventType.messageReceived, thread: "t1", inbound("m2", thread: "t1", text: "there", at: 200)))
        #expect(state.threads["t1"]?.unread == 2)
        // A replayed event (same mid) is not counted twice.
        state.apply(event(3, EventType.messageReceived, thread: "t1", inbound("m2", thread: "t1", text: "there", at: 200)))
        #expect(state.threads["t1"]?.unread == 2)
        #expect(state.messages["t1"]?.count == 2)
    }

    @Test func threadsSortMostRecentFirst() {
        var state = ConsoleState()
        state.loadThreads([
            ThreadSummary(id: "a", lastAt: 100), ThreadSummary(id: "b", lastAt: 300), ThreadSummary(id: "c", lastAt: 200),
        ])
        #expect(state.sortedThreadIDs == ["b", "c", "a"])
        state.apply(event(1, EventType.messageReceived, thread: "a", inbound("m", thread: "a", text: "new", at: 400)))
        #expect(state.sortedThreadIDs == ["a", "b", "c"])
    }

    @Test func threadUpdatedReplacesSummary() {
        var state = ConsoleState()
        state.loadThreads([ThreadSummary(id: "a", mode: .auto, unread: 3, lastAt: 100)])
        var updated = ThreadSummary(id: "a", mode: .human, unread: 0, lastAt: 100)
        updated.assignee = "sam"
        state.apply(event(5, EventType.threadUpdated, thread: "a", updated))
        #expect(state.threads["a"]?.mode == .human)
        #expect(state.threads["a"]?.unread == 0)
        #expect(state.unreadThreadCount == 0)
    }

    @Test func outboundUpdatedChangesDeliveryMark() {
        var state = ConsoleState()
        state.loadThreads([ThreadSummary(id: "a", lastAt: 100)])
        let pending = OutboundView(id: 7, thread: "a", kind: .manual, channel: .instagram, status: .pending, text: "on it",
                                   attempts: 0, error: nil, remoteId: nil, author: .operator, createdAt: 150)
        state.applyOutbound(pending)  // the `send` reply
        #expect(state.messages["a"]?.last?.delivery == .pending)
        #expect(state.messages["a"]?.last?.id == "out:7")
        var failed = pending
        failed.status = .failed
        failed.error = "outside the 24-hour window"
        state.apply(event(9, EventType.outboundUpdated, thread: "a", failed))
        #expect(state.messages["a"]?.count == 1)
        #expect(state.messages["a"]?.last?.delivery == .failed)
        #expect(state.messages["a"]?.last?.error == "outside the 24-hour window")
        #expect(state.lastFailedOutbound(in: "a")?.outboundId == 7)
        var sent = pending
        sent.status = .sent
        state.apply(event(10, EventType.outboundUpdated, thread: "a", sent))
        #expect(state.messages["a"]?.last?.delivery == .sent)
    }

    @Test func openThreadEventsAppendInOrderAndAskForMarkRead() {
        var state = ConsoleState()
        state.loadThreads([ThreadSummary(id: "a", mode: .human, unread: 2, lastAt: 100)])
        state.open(thread: "a")
        #expect(state.threads["a"]?.unread == 0)
        state.loadHistory(thread: "a", [inbound("m1", thread: "a", text: "one", at: 10)], limit: 200)
        let outcome = state.apply(event(1, EventType.messageReceived, thread: "a", inbound("m2", thread: "a", text: "two", at: 20)))
        #expect(outcome.markRead == "a")
        #expect(outcome.ringBell)  // human-mode thread
        state.apply(event(2, EventType.messageReceived, thread: "a", inbound("m3", thread: "a", text: "three", at: 30)))
        let bot = MessageView(id: "out:1", thread: "a", direction: .outbound, author: .bot, text: "auto", timestamp: 40,
                              delivery: .sent, outboundId: 1)
        state.apply(event(3, EventType.messageSent, thread: "a", bot))
        #expect(state.messages["a"]?.map(\.id) == ["m1", "m2", "m3", "out:1"])
        #expect(state.threads["a"]?.unread == 0)
        #expect(state.selectedMessage?.id == "out:1")
    }

    @Test func botThreadsDoNotRing() {
        var state = ConsoleState()
        state.loadThreads([ThreadSummary(id: "a", mode: .auto, lastAt: 1)])
        let outcome = state.apply(event(1, EventType.messageReceived, thread: "a", inbound("m", thread: "a", text: "x", at: 5)))
        #expect(!outcome.ringBell)
        #expect(outcome.markRead == nil)
    }

    @Test func historyMergesWithLiveEvents() {
        var state = ConsoleState()
        state.apply(event(1, EventType.messageReceived, thread: "a", inbound("m3", thread: "a", text: "live", at: 30)))
        state.loadHistory(thread: "a", [inbound("m1", thread: "a", text: "old", at: 10), inbound("m3", thread: "a", text: "live", at: 30)], limit: 2)
        #expect(state.messages["a"]?.map(\.id) == ["m1", "m3"])
        #expect(state.history["a"] == .loaded(hasOlder: true))
    }

    @Test func agentStepsAreSystemLinesLiveAndInHistory() {
        var state = ConsoleState()
        state.apply(event(1, EventType.messageReceived, thread: "a", inbound("m1", thread: "a", text: "hi", at: 10)))
        let live = AgentStepView(id: 7, thread: "a", batch: "m1", kind: .tool, tool: "send_message", arguments: #"{"text":"Hello!"}"#,
                                 result: "sent (outbox #3)", latencyMs: 4, at: 20)
        state.apply(event(2, EventType.agentStep, thread: "a", live))
        #expect(state.messages["a"]?.last?.author == .system)
        #expect(state.messages["a"]?.last?.text == #"agent send_message({"text":"Hello!"}) ✓ sent (outbox #3) · 4 ms"#)
        // The history reply carries the same step (no duplicate) and an earlier fallback between the messages.
        let fallback = AgentStepView(id: 5, thread: "a", batch: "m0", kind: .fallback, result: "the model did not answer within 300 ms",
                                     ok: false, at: 5)
        state.loadHistory(thread: "a", [inbound("m0", thread: "a", text: "earlier", at: 4), inbound("m1", thread: "a", text: "hi", at: 10)],
                          steps: [fallback, live], limit: 2)
        #expect(state.messages["a"]?.map(\.id) == ["m0", "step:5", "m1", "step:7"])
        #expect(state.messages["a"]?[1].text == "agent failed, rules answered: the model did not answer within 300 ms")
        #expect(state.history["a"] == .loaded(hasOlder: true), "only messages count toward a full page")
    }

    @Test func reactionsAndReadReceipts() {
        var state = ConsoleState()
        state.apply(event(1, EventType.messageReceived, thread: "a", inbound("m1", thread: "a", text: "hi", at: 10)))
        state.apply(ServerLine.event(JournalEvent(seq: 2, type: EventType.reaction, thread: "a", data: ["mid": "m1", "reaction": "love"], at: 1)))
        #expect(state.messages["a"]?.first?.reactions == ["love"])
        state.apply(ServerLine.event(JournalEvent(seq: 3, type: EventType.reaction, thread: "a", data: ["mid": "m1", "reaction": nil], at: 1)))
        #expect(state.messages["a"]?.first?.reactions == [])
        let mine = MessageView(id: "out:1", thread: "a", direction: .outbound, author: .operator, text: "yo", timestamp: 20, delivery: .sent, outboundId: 1)
        state.apply(event(4, EventType.messageSent, thread: "a", mine))
        #expect(!state.isSeen(mine))
        state.apply(ServerLine.event(JournalEvent(seq: 5, type: EventType.read, thread: "a", data: ["watermark": 25], at: 1)))
        #expect(state.isSeen(mine))
    }

    @Test func statusErrorsAndFilter() {
        var state = ConsoleState()
        let status = DaemonStatus(listener: "127.0.0.1:8080", sqlite: "ok", redis: "down", redisError: "refused", token: "ok",
                                  threads: 2, messages: 3, pendingOutbound: 0, uptimeSeconds: 1)
        state.apply(event(1, EventType.daemonStatus, thread: nil, status))
        #expect(state.status?.redis == "down")
        state.apply(ServerLine.error(id: nil, ControlError(code: "overflow", message: "client too slow")))
        #expect(state.notice?.isError == true)
        state.loadThreads([ThreadSummary(id: "a", name: "Anna", lastAt: 2), ThreadSummary(id: "b", username: "bob", lastAt: 1)])
        state.setFilter("BOB")
        #expect(state.visibleThreadIDs == ["b"])
        #expect(state.selectedThreadID == "b")
        state.setFilter("")
        #expect(state.visibleThreadIDs == ["a", "b"])
    }

    @Test func selectionAndNextUnread() {
        var state = ConsoleState()
        state.loadThreads([
            ThreadSummary(id: "a", lastAt: 3), ThreadSummary(id: "b", unread: 1, lastAt: 2), ThreadSummary(id: "c", lastAt: 1),
        ])
        #expect(state.selectedThreadID == "a")
        state.moveThreadSelection(by: 1)
        #expect(state.selectedThreadID == "b")
        state.moveThreadSelection(by: 10)
        #expect(state.selectedThreadID == "c")
        #expect(state.nextUnreadThreadID() == "b")
    }

    @Test func manyThreadsStaySortedIncrementally() {
        var state = ConsoleState()
        state.loadThreads((0..<10_000).map { ThreadSummary(id: "t\($0)", lastAt: EpochMillis($0)) })
        #expect(state.sortedThreadIDs.first == "t9999")
        state.apply(event(1, EventType.messageReceived, thread: "t5", inbound("m", thread: "t5", text: "x", at: 20_000)))
        #expect(state.sortedThreadIDs.first == "t5")
        #expect(state.sortedThreadIDs.count == 10_000)
    }
}

@Suite struct MessageLayoutTests {
    @Test func marksAndAttachments() {
        let failed = MessageView(id: "out:1", thread: "a", direction: .outbound, author: .operator, text: "hello", timestamp: 0,
                                 delivery: .failed, error: "outside the 24-hour window", outboundId: 1)
        let rows = MessageLayout.lines(for: failed, customerName: "Anna", seen: false, width: 80)
        let text = rows.map { $0.map(\.text).joined() }.joined(separator: "\n")
        #expect(text.contains("✗ failed: outside the 24-hour window"))
        let image = MessageView(id: "m", thread: "a", direction: .inbound, author: .customer, text: nil,
                                attachments: [Attachment(type: "image", url: "https://x/y.jpg")], timestamp: 0, reactions: ["love"])
        let imageText = MessageLayout.lines(for: image, customerName: "Anna", seen: false, width: 80)
            .map { $0.map(\.text).joined() }.joined(separator: "\n")
        #expect(imageText.contains("[photo] https://x/y.jpg"))
        #expect(imageText.contains("♥"))
    }

    @Test func escapeSequencesNeverReachRows() {
        let evil = MessageView(id: "m", thread: "a", direction: .inbound, author: .customer,
                               text: "\u{1B}[2J\u{1B}]52;c;aGk=\u{07}", timestamp: 0)
        let rows = MessageLayout.lines(for: evil, customerName: "x", seen: false, width: 60)
        for row in rows {
            for segment in row { #expect(!segment.text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }) }
        }
        #expect(rows.map { $0.map(\.text).joined() }.joined().contains("␛[2J"))
    }

    @Test func rowsFitTheWidth() {
        let long = MessageView(id: "m", thread: "a", direction: .inbound, author: .customer,
                               text: String(repeating: "中文 emoji 👍🏽 ", count: 30), timestamp: 0)
        for row in MessageLayout.lines(for: long, customerName: "x", seen: false, width: 40) {
            #expect(row.reduce(0) { $0 + TextWidth.width($1.text) } <= 40)
        }
    }
}
