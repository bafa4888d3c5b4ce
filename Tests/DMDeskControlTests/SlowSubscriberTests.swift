import DMDeskControl
import DMDeskCore
import Foundation
import Glibc
import Testing

@Suite("A slow subscriber gets the promised overflow line, and resumes from it", .serialized, .timeLimit(.minutes(2)))
struct SlowSubscriberTests {
    @Test func aClientThatStopsReadingIsToldWhereToResumeAndLosesNothing() throws {
        var options = ControlServer.Options()
        options.subscriberCapacity = 300
        // Short: the client reads nothing until it has been dropped, so the final line must already be in its
        // socket when the grace period ends.
        options.overflowGracePeriod = .milliseconds(200)
        let fixture = try Fixture(options: options)
        defer { fixture.cleanUp() }
        let slow = try fixture.connect()
        let subscribed = try slow.subscribe()
        let startSeq = try #require(subscribed["result"]?["last_seq"]?.int64Value)

        // Publish in batches, letting each reach the client's socket while it has room, so the socket is full
        // when the subscription overflows. Then keep publishing: the queue overflows.
        var next: Int64 = startSeq + 1
        var pacing = true
        while fixture.server.stats.overflowDisconnects == 0 {
            let before = slow.unreadBytes()
            fixture.service.commit(next...(next + 99), to: fixture.bus)
            next += 100
            if pacing {
                pacing = waitUntil(timeout: .milliseconds(500)) {
                    slow.unreadBytes() > before || fixture.server.stats.overflowDisconnects > 0
                }
            }
            try #require(next < 200_000, "the slow client was never dropped")
        }
        let lastPublished = next - 1
        #expect(waitUntil { fixture.server.stats.connectedClients == 0 }, "dropped after the grace period")
        var sendBuffer: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(slow.fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, &length)
        #expect(slow.unreadBytes() > Int(sendBuffer) / 4, "its socket was full of events when it was dropped")

        let lines = try slow.readUntilEndOfStream()
        let seqs = lines.compactMap(eventSeq)
        #expect(seqs == Array((startSeq + 1)..<(startSeq + 1 + Int64(seqs.count))), "a contiguous prefix")
        #expect(lines.count == seqs.count + 1, "then exactly one more line")
        let final = try JSONValue.parse(Data(try #require(lines.last).utf8))
        #expect(final["type"]?.stringValue == "error" && final["id"] == .null)
        #expect(final["error"]?["code"]?.stringValue == "overflow", "\(lines.last ?? "")")
        let resume = seqs.last ?? startSeq
        #expect(final["error"]?["message"]?.stringValue?.hasSuffix("since=\(resume)") == true)
        #expect(fixture.server.stats.overflowDisconnects == 1)

        // Reconnecting from that seq: every later event once, in order, then live ones.
        let again = try fixture.connect()
        #expect(try again.subscribe(id: 2, since: resume)["type"]?.stringValue == "ok")
        var replayed: [Int64] = []
        while (replayed.last ?? resume) < lastPublished {
            replayed.append(try #require(eventSeq(try again.readLine())))
        }
        #expect(replayed == Array((resume + 1)...lastPublished))
        fixture.service.commit((lastPublished + 1)...(lastPublished + 1), to: fixture.bus)
        #expect(eventSeq(try again.readLine()) == lastPublished + 1)
        try again.expectAnswers(id: "marker")
    }
}
