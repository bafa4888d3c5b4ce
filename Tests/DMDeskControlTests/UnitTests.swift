import DMDeskControl
import DMDeskCore
import Foundation
import Testing

@Suite struct EventBusTests {
    @Test func deliversInOrderAndTimesOutWhenIdle() {
        let bus = EventBus(lastSeq: 7)
        let subscription = bus.subscribe(capacity: 10)
        #expect(subscription.startSeq == 7)
        #expect(subscription.next(timeout: .milliseconds(20)) == .timedOut)
        bus.publish([makeEvent(8), makeEvent(9)])
        #expect(subscription.next(timeout: .zero) == .events([makeEvent(8), makeEvent(9)]))
        #expect(bus.lastPublishedSeq == 9)
    }

    @Test func nextWakesWhenAnotherThreadPublishes() {
        let bus = EventBus()
        let subscription = bus.subscribe()
        // A plain thread, not a task: `next` blocks, and must not starve the tasks it waits for.
        let publisher = Thread {
            usleep(50_000)
            bus.publish([makeEvent(1)])
        }
        publisher.start()
        #expect(subscription.next(timeout: .seconds(10)) == .events([makeEvent(1)]))
    }

    @Test func overflowMarksTheSubscriberWithoutSlowingPublish() {
        let bus = EventBus()
        let slow = bus.subscribe(capacity: 3)
        let fine = bus.subscribe(capacity: 1_000_000)
        let clock = ContinuousClock()
        let took = clock.measure {
            for seq in Int64(1)...200_000 { bus.publish([makeEvent(seq)]) }
        }
        #expect(slow.isOverflowed)
        #expect(slow.next(timeout: .zero) == .overflowed)
        #expect(fine.pendingCount == 200_000)
        #expect(took < .seconds(5), "200k publishes took \(took)")
        slow.cancel()
        #expect(bus.subscriberCount == 1)
        #expect(slow.next(timeout: .zero) == .cancelled)
    }

    @Test func onReadyFiresOnTheEmptyToNonEmptyTransitionAndOnOverflow() {
        let bus = EventBus()
        let calls = Counter()
        let subscription = bus.subscribe(capacity: 4, onReady: { calls.increment() })
        bus.publish([makeEvent(1)])
        bus.publish([makeEvent(2)])
        #expect(calls.value == 1)
        _ = subscription.next(timeout: .zero)
        bus.publish([makeEvent(3)])
        #expect(calls.value == 2)
        bus.publish((4...10).map(makeEvent))
        #expect(calls.value == 3)
        #expect(subscription.isOverflowed)
    }

    @Test func batchesAreCappedByMaxCount() {
        let bus = EventBus()
        let subscription = bus.subscribe()
        bus.publish((1...10).map(makeEvent))
        #expect(subscription.next(timeout: .zero, maxCount: 4) == .events((1...4).map(makeEvent)))
        #expect(subscription.next(timeout: .zero, maxCount: 100) == .events((5...10).map(makeEvent)))
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

@Suite struct LineFramerTests {
    @Test func splitsLinesAcrossChunksAndDropsCR() {
        var framer = LineFramer(maxLineBytes: 100)
        #expect(framer.push(Array("ab".utf8)) == [])
        #expect(framer.push(Array("c\r\nde\n\n".utf8)) == [.line(Array("abc".utf8)), .line(Array("de".utf8))])
        #expect(framer.push(Array("f".utf8)) == [])
        #expect(framer.push(Array("\n".utf8)) == [.line(Array("f".utf8))])
    }

    @Test func refusesALongLineOnceAndDiscardsItsRest() {
        var framer = LineFramer(maxLineBytes: 5)
        #expect(framer.push(Array("12345".utf8)) == [])
        #expect(framer.push(Array("6".utf8)) == [.tooLong])
        #expect(framer.push(Array("789".utf8)) == [])
        #expect(framer.push(Array("0\nok\n".utf8)) == [.line(Array("ok".utf8))])
        #expect(framer.push(Array("1234567\nok\n".utf8)) == [.tooLong, .line(Array("ok".utf8))])
        #expect(framer.push(Array("12345\n".utf8)) == [.line(Array("12345".utf8))])
    }
}

@Suite struct ControlLineTests {
    @Test func encodesCompactSortedJSONWithNewline() {
        let line = ControlLine.encode(.ok(id: 1, result: ["b": 1, "a": true]))
        #expect(String(decoding: line, as: UTF8.self) == #"{"id":1,"result":{"a":true,"b":1},"type":"ok"}"# + "\n")
        let error = ControlLine.encode(.error(id: .null, .badRequest("x")))
        #expect(String(decoding: error, as: UTF8.self).contains(#""id":null"#))
    }

    @Test func decodesRequestsAndExplainsRejections() throws {
        let request = try ControlLine.decodeRequest(Array(#"{"id":"a","type":"send","thread":"t","text":"hi"}"#.utf8)).get()
        #expect(request == ControlRequest(id: "a", type: .send, thread: "t", text: "hi"))

        func rejection(_ text: String) -> ControlLine.Rejection? {
            if case .failure(let rejection) = ControlLine.decodeRequest(Array(text.utf8)) { return rejection }
            return nil
        }
        #expect(rejection("nope") == .init(id: .null, error: .badRequest("line is not valid JSON")))
        #expect(rejection(#"{"type":"status"}"#)?.id == .null)
        #expect(rejection(#"{"id":3,"type":"fly"}"#)?.error.code == "unknown_request")
        #expect(rejection(#"{"id":4,"type":"threads","mode":"robot"}"#)?.id == 4)
        #expect(rejection(#"{"id":4,"type":"threads","mode":"robot"}"#)?.error.code == "bad_request")
    }
}
