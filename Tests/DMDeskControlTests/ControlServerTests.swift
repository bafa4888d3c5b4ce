import DMDeskControl
import DMDeskCore
import Foundation
import Glibc
import Synchronization
import Testing

@Suite("Control socket over a real Unix socket", .serialized, .timeLimit(.minutes(2)))
struct ControlServerTests {
    @Test func helloIsTheFirstLine() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try TestClient(path: fixture.path)
        let hello = try client.readJSON()
        #expect(hello["type"]?.stringValue == "hello")
        #expect(hello["protocol"]?.int64Value == Int64(ControlProtocol.version))
        #expect(hello["daemon"]?.stringValue == "test-daemon")
        #expect(hello["account"]?.stringValue == "acct-1")
    }

    @Test func eachRequestGetsExactlyOneReplyWithItsID() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()

        try client.sendLine(#"{"id":1,"type":"status"}"#)
        let ok = try client.readJSON()
        #expect(ok["type"]?.stringValue == "ok")
        #expect(ok["id"]?.int64Value == 1)
        #expect(ok["result"]?["ok"]?.boolValue == true)

        try client.sendLine(#"{"id":"abc","type":"send","thread":"missing","text":"hi"}"#)
        let error = try client.readJSON()
        #expect(error["type"]?.stringValue == "error")
        #expect(error["id"]?.stringValue == "abc")
        #expect(error["error"]?["code"]?.stringValue == "not_found")

        // Fifty at once: fifty replies, each id once, and nothing after them but the marker's reply.
        let ids = Array(100..<150)
        try client.send(ids.map { #"{"id":\#($0),"type":"status"}"# + "\n" }.joined())
        var seen: [Int64] = []
        for _ in ids {
            let reply = try client.readJSON()
            #expect(reply["type"]?.stringValue == "ok")
            seen.append(reply["id"]?.int64Value ?? -1)
        }
        #expect(seen.sorted() == ids.map(Int64.init))
        try client.expectAnswers(id: "marker")
    }

    @Test func malformedLinesGetErrorsAndTheConnectionStaysUp() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()

        try client.sendLine("this is not json")
        var reply = try client.readJSON()
        #expect(reply["type"]?.stringValue == "error")
        #expect(reply["id"] == nil || reply["id"] == .null)
        #expect(reply["error"]?["code"]?.stringValue == "bad_request")

        try client.sendLine("[1,2,3]")
        reply = try client.readJSON()
        #expect(reply["error"]?["code"]?.stringValue == "bad_request")

        try client.sendLine(#"{"id":7,"type":"launch_rockets"}"#)
        reply = try client.readJSON()
        #expect(reply["id"]?.int64Value == 7)
        #expect(reply["error"]?["code"]?.stringValue == "unknown_request")

        try client.sendLine(#"{"id":8}"#)
        reply = try client.readJSON()
        #expect(reply["id"]?.int64Value == 8)
        #expect(reply["error"]?["code"]?.stringValue == "bad_request")

        try client.sendLine(#"{"id":9,"type":"history","limit":"many"}"#)
        reply = try client.readJSON()
        #expect(reply["id"]?.int64Value == 9)
        #expect(reply["error"]?["code"]?.stringValue == "bad_request")

        try client.sendLine(#"{"id":10,"type":"status"}"#)
        reply = try client.readJSON()
        #expect(reply["type"]?.stringValue == "ok")
        #expect(reply["id"]?.int64Value == 10)
    }

    @Test func aLineOverTheLimitIsRefusedAndTheConnectionStaysUp() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()

        // Over the limit, followed in the same write by a valid request.
        let oversized = [UInt8](repeating: UInt8(ascii: "a"), count: ControlProtocol.maxLineBytes + 10)
        try client.sendBytes(oversized + Array("\n{\"id\":2,\"type\":\"status\"}\n".utf8))
        let refusal = try client.readJSON()
        #expect(refusal["type"]?.stringValue == "error")
        #expect(refusal["error"]?["code"]?.stringValue == "line_too_long")
        let ok = try client.readJSON()
        #expect(ok["type"]?.stringValue == "ok")
        #expect(ok["id"]?.int64Value == 2)

        // Exactly at the limit is still a line.
        let prefix = #"{"id":3,"type":"send","thread":"t1","text":""#
        let suffix = #""}"#
        let textBytes = ControlProtocol.maxLineBytes - prefix.utf8.count - suffix.utf8.count
        try client.sendLine(prefix + String(repeating: "b", count: textBytes) + suffix)
        let atLimit = try client.readJSON()
        #expect(atLimit["type"]?.stringValue == "ok")
        #expect(atLimit["id"]?.int64Value == 3)
        #expect(atLimit["result"]?["text_bytes"]?.int64Value == Int64(textBytes))
    }

    @Test func subscribeSinceReplaysMissedEventsThenLiveOnesWithoutGapOrDuplicate() throws {
        var options = ControlServer.Options()
        options.replayPageSize = 7  // several pages
        let fixture = try Fixture(options: options)
        defer { fixture.cleanUp() }
        let service = fixture.service
        let bus = fixture.bus
        service.commit(1...50, to: bus)  // before anyone is attached

        // Commits that land while the replay runs. 51...55 right after the first page is read: they
        // reach the client through later pages *and* the live queue, and must arrive once.
        // 56...58 right after the last (empty) page is read: only the live queue has them, so they
        // arrive only if the live subscription was registered before the replay began.
        let firstPageSeen = Atomic<Bool>(false)
        let lastPageSeen = Atomic<Bool>(false)
        service.journalQueryHook.withLock {
            $0 = { _, returned in
                if !firstPageSeen.exchange(true, ordering: .relaxed) {
                    service.commit(51...55, to: bus)
                } else if returned == 0, !lastPageSeen.exchange(true, ordering: .relaxed) {
                    service.commit(56...58, to: bus)
                }
            }
        }

        let client = try fixture.connect()
        let reply = try client.subscribe(id: 1, since: 20)
        #expect(reply["type"]?.stringValue == "ok")
        #expect(reply["result"]?["subscribed"]?.boolValue == true)
        #expect((reply["result"]?["last_seq"]?.int64Value ?? 0) >= 50)

        var received: [Int64] = []
        while received.last ?? 0 < 58 {
            received.append(try #require(eventSeq(try client.readLine())))
        }
        let replayReachedTheEnd = lastPageSeen.load(ordering: .relaxed)
        #expect(replayReachedTheEnd)
        service.commit(59...60, to: bus)
        while received.last ?? 0 < 60 {
            received.append(try #require(eventSeq(try client.readLine())))
        }
        #expect(received == Array(21...60))
        #expect(service.journalQueries.load(ordering: .relaxed) > 2)

        // Nothing else is pending: the next line is the marker's reply.
        try client.expectAnswers(id: "marker")
    }

    @Test func subscribeWithoutSinceStreamsOnlyLiveEvents() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        fixture.service.commit(1...10, to: fixture.bus)
        let client = try fixture.connect()
        let reply = try client.subscribe()
        #expect(reply["result"]?["last_seq"]?.int64Value == 10)
        fixture.service.commit(11...12, to: fixture.bus)
        let first = try client.readJSON()
        #expect(first["type"]?.stringValue == "event")
        #expect(first["seq"]?.int64Value == 11)
        #expect(first["event"]?.stringValue == EventType.messageReceived)
        #expect(first["thread"]?.stringValue == "t1")
        #expect(first["data"]?["text"]?.stringValue == "message 11")
        #expect(eventSeq(try client.readLine()) == 12)
        try client.expectAnswers(id: "marker")
    }

    @Test func eventsFlowWhileARequestIsBeingAnswered() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()
        try client.subscribe()
        try client.sendLine(#"{"id":2,"type":"threads"}"#)  // the stub takes 400 ms
        fixture.service.commit(1...1, to: fixture.bus)
        #expect(eventSeq(try client.readLine()) == 1)
        let reply = try client.readJSON()
        #expect(reply["type"]?.stringValue == "ok")
        #expect(reply["id"]?.int64Value == 2)
    }

    @Test func aSlowClientIsDroppedWhilePublishingStaysFastAndOthersGetEverything() throws {
        var options = ControlServer.Options()
        options.subscriberCapacity = 2_000
        options.overflowGracePeriod = .seconds(60)  // the slow client reads its final line after the run
        let fixture = try Fixture(options: options)
        defer { fixture.cleanUp() }

        let slow = try fixture.connect()
        try #require(slow.subscribe()["type"]?.stringValue == "ok")  // then never reads until the end
        let fast = try fixture.connect()
        try #require(fast.subscribe()["type"]?.stringValue == "ok")

        let total: Int64 = 100_000
        let batchSize: Int64 = 500
        var publishing = Duration.zero
        var fastNext: Int64 = 1
        let clock = ContinuousClock()
        for batchStart in stride(from: Int64(1), through: total, by: Int(batchSize)) {
            let batch = (batchStart...(batchStart + batchSize - 1)).map(makeEvent)
            publishing += clock.measure { fixture.bus.publish(batch) }
            // The fast client keeps up: it reads everything up to this batch's end, in order.
            while fastNext <= batchStart + batchSize - 1 {
                let seq = try #require(eventSeq(try fast.readLine()))
                try #require(seq == fastNext, "fast client skipped or repeated an event")
                fastNext += 1
            }
        }
        #expect(fastNext == total + 1)
        // No bound on `publishing` here: timings are for scripts/bench-*; that the loop finished at all shows
        // publish never waited for the slow client.
        _ = publishing
        #expect(fixture.server.stats.overflowDisconnects == 1)

        // The slow client got a contiguous prefix, then one overflow error naming where to resume.
        let lines = try slow.readUntilEndOfStream(timeout: .seconds(20))
        let seqs = lines.compactMap(eventSeq)
        #expect(seqs == (0..<seqs.count).map { Int64($0) + 1 })
        #expect(seqs.count < Int(total))
        let last = try JSONValue.parse(Data(try #require(lines.last).utf8))
        #expect(last["type"]?.stringValue == "error")
        #expect(last["error"]?["code"]?.stringValue == "overflow")
        #expect(last["error"]?["message"]?.stringValue?.hasSuffix("since=\(seqs.last ?? 0)") == true)
        #expect(lines.count == seqs.count + 1)

        #expect(waitUntil { fixture.server.stats.connectedClients == 1 })
        #expect(waitUntil { fixture.bus.subscriberCount == 1 })
        try fast.expectAnswers(id: "still-here")
    }

    @Test func aSecondServerOnTheSamePathIsRefusedAndTheFirstKeepsWorking() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        var before = stat()
        try #require(stat(fixture.path, &before) == 0)

        let second = ControlServer(path: fixture.path, service: StubService(), bus: EventBus(), logger: .init(label: "second"))
        #expect(throws: ControlServerError.alreadyRunning(fixture.path)) { try second.start() }
        #expect(ControlServerError.alreadyRunning(fixture.path).description.contains("already running"))
        #expect(ControlServerError.alreadyRunning(fixture.path).description.contains(fixture.path))
        second.stop()  // never started: must not remove the first server's socket

        var after = stat()
        try #require(stat(fixture.path, &after) == 0)
        #expect(after.st_ino == before.st_ino)
        try fixture.expectServing()
    }

    @Test func aStaleSocketFileIsReplaced() throws {
        let fixture = try Fixture(start: false)
        defer { fixture.cleanUp() }
        try fixture.makeSocketDirectory()

        // A daemon that died: bound and listened, then its descriptor closed without unlink.
        let dead = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(fixture.path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(dead, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        try #require(listen(dead, 1) == 0)
        close(dead)
        var info = stat()
        try #require(lstat(fixture.path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)
        #expect(throws: TestClientError.connectFailed(ECONNREFUSED)) { _ = try TestClient(path: fixture.path) }

        try fixture.server.start()
        try fixture.expectServing()
    }

    @Test func aPathThatIsNotASocketIsLeftAlone() throws {
        let fixture = try Fixture(start: false)
        defer { fixture.cleanUp() }
        try fixture.makeSocketDirectory()
        try Data("precious".utf8).write(to: URL(fileURLWithPath: fixture.path))
        #expect(throws: ControlServerError.notASocket(fixture.path)) { try fixture.server.start() }
        #expect(try String(contentsOfFile: fixture.path, encoding: .utf8) == "precious")
    }

    @Test func socketIsMode0600InsideA0700Directory() throws {
        // A freshly created directory.
        let fresh = try Fixture()
        defer { fresh.cleanUp() }
        #expect(fileMode(fresh.path) == 0o600)
        #expect(fileMode((fresh.path as NSString).deletingLastPathComponent) == 0o700)

        // An existing directory of ours that is too open gets tightened.
        let existing = try Fixture(start: false)
        defer { existing.cleanUp() }
        let directory = try existing.makeSocketDirectory()
        try #require(chmod(directory, 0o755) == 0)
        try #require(fileMode(directory) == 0o755)
        try existing.server.start()
        #expect(fileMode(directory) == 0o700)
        #expect(fileMode(existing.path) == 0o600)
    }

    @Test func aPeerWithAnotherUIDIsRefused() throws {
        var options = ControlServer.Options()
        options.allowedPeerUIDs = [getuid() &+ 4242]  // we are now "someone else" to the server
        let fixture = try Fixture(options: options)
        defer { fixture.cleanUp() }
        let client = try TestClient(path: fixture.path)
        let lines = try client.readUntilEndOfStream()
        try #require(lines.count == 1)
        let refusal = try JSONValue.parse(Data(lines[0].utf8))
        #expect(refusal["type"]?.stringValue == "error")
        #expect(refusal["error"]?["code"]?.stringValue == "forbidden")
        #expect(fixture.server.stats.refusedPeers == 1)
        #expect(fixture.server.stats.acceptedClients == 0)
    }

    @Test func ourOwnUIDIsAcceptedByDefault() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        _ = try fixture.connect()
        #expect(fixture.server.stats.refusedPeers == 0)
        #expect(waitUntil { fixture.server.stats.acceptedClients == 1 })
    }

    @Test func clientsDisconnectingMidLineDoNotDisturbOthers() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        do {
            let leaving = try fixture.connect()
            try leaving.subscribe()
            try leaving.send(#"{"id":1,"ty"#)
        }  // closed here, mid-line
        do {
            _ = try TestClient(path: fixture.path)  // closed before even reading hello
        }
        #expect(waitUntil { fixture.server.stats.connectedClients == 0 })
        #expect(waitUntil { fixture.bus.subscriberCount == 0 })
        fixture.service.commit(1...100, to: fixture.bus)  // nobody there: publishing must not mind

        let staying = try fixture.connect()
        try staying.sendLine(#"{"id":2,"type":"status"}"#)
        #expect(try staying.readJSON()["id"]?.int64Value == 2)
    }

    @Test func aHalfClosedClientStillGetsItsReplies() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()
        try client.sendLine(#"{"id":1,"type":"threads"}"#)
        client.shutdownWrite()
        let lines = try client.readUntilEndOfStream()
        try #require(lines.count == 1)
        let reply = try JSONValue.parse(Data(lines[0].utf8))
        #expect(reply["id"]?.int64Value == 1)
        #expect(reply["type"]?.stringValue == "ok")
    }

    @Test func stopClosesAttachedClientsAndRemovesTheSocket() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let subscribed = try fixture.connect()
        try subscribed.subscribe()
        let idle = try fixture.connect()
        let midLine = try fixture.connect()
        try midLine.send(#"{"id":1,"#)
        let slowRequest = try fixture.connect()
        try slowRequest.sendLine(#"{"id":1,"type":"threads"}"#)
        #expect(waitUntil { fixture.server.stats.connectedClients == 4 })

        let clock = ContinuousClock()
        let took = clock.measure { fixture.server.stop() }
        #expect(took < .seconds(3))
        for client in [subscribed, idle, midLine] {
            #expect(try client.readUntilEndOfStream(timeout: .seconds(5)).isEmpty)
        }
        _ = try slowRequest.readUntilEndOfStream(timeout: .seconds(5))
        #expect(access(fixture.path, F_OK) != 0)
        #expect(throws: TestClientError.self) { _ = try TestClient(path: fixture.path) }
        fixture.server.stop()  // idempotent
    }

    @Test func subscribingTwiceOnOneConnectionIsAnError() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let client = try fixture.connect()
        try client.subscribe(id: 1)
        let second = try client.subscribe(id: 2)
        #expect(second["type"]?.stringValue == "error")
        #expect(second["id"]?.int64Value == 2)
        #expect(fixture.bus.subscriberCount == 1)
    }
}
