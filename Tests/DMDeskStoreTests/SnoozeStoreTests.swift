import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Store: snoozes end at their time or when the customer writes, and survive a restart")
struct SnoozeStoreTests {
    let ana = "3100000000000201"
    let bob = "3100000000000202"

    func snooze(_ store: any InboxStore, _ thread: String, until: EpochMillis?) async throws -> ThreadSummary {
        try await store.updateThread(thread) {
            $0.status = .snoozed
            $0.snoozed_until = until
        }.0
    }

    @Test("a due snooze ends (marked, journaled); one not due, or until reply, stays; the next end is the earliest",
          arguments: StoreEngine.all)
    func wakesWhenDue(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let now = nowMillis()
            _ = try await store.ingest(try Events.text(ana, "hello", mid: "a1", at: now - 5_000))
            _ = try await store.ingest(try Events.text(bob, "hi", mid: "b1", at: now - 4_000))
            let snoozed = try await snooze(store, ana, until: now + 3_600_000)
            #expect(snoozed.status == .snoozed && snoozed.snoozedUntil == now + 3_600_000)
            _ = try await snooze(store, bob, until: nil)
            #expect(try await store.nextSnoozeEnd() == now + 3_600_000, "until-reply snoozes have no time")
            #expect(try await store.threads(ThreadFilter(status: .snoozed)).map(\.id).sorted() == [ana, bob].sorted())

            #expect(try await store.wakeSnoozed(dueBy: now + 3_599_999).isEmpty, "not yet")
            let woken = try await store.wakeSnoozed(dueBy: now + 3_600_000)
            #expect(woken.map(\.0.id) == [ana])
            let back = try #require(woken.first?.0)
            #expect(back.status == .open && back.snoozedUntil == nil && back.snoozeEndedAt == now + 3_600_000)
            #expect(woken.first?.1.type == EventType.threadUpdated)
            #expect(try await store.thread(bob)?.status == .snoozed, "until reply stays snoozed however late")
            #expect(try await store.nextSnoozeEnd() == nil)
        }
    }

    @Test("the customer writing ends either kind of snooze; a restart keeps a snooze", arguments: StoreEngine.all)
    func inboundWakesAndRestartKeeps(engine: StoreEngine) async throws {
        let place = try await engine.makePlace()
        let first = try await engine.open(place)
        do {
            let now = nowMillis()
            _ = try await first.ingest(try Events.text(ana, "hello", mid: "a1", at: now - 5_000))
            _ = try await first.ingest(try Events.text(bob, "hi", mid: "b1", at: now - 4_000))
            _ = try await snooze(first, ana, until: now + 86_400_000)
            _ = try await snooze(first, bob, until: nil)

            let outcome = try await first.ingest(try Events.text(ana, "any news?", mid: "a2", at: now))
            #expect(outcome.events.contains { $0.type == EventType.threadUpdated && $0.data["status"]?.stringValue == "open" })
            let anaNow = try #require(try await first.thread(ana))
            #expect(anaNow.status == .open && anaNow.snoozedUntil == nil && anaNow.snoozeEndedAt != nil)

            try await first.close()
            let reopened = try await engine.open(place)
            let bobAfter = try #require(try await reopened.thread(bob))
            #expect(bobAfter.status == .snoozed && bobAfter.snoozedUntil == nil, "the snooze is on disk")
            _ = try await reopened.ingest(try Events.text(bob, "still there?", mid: "b2", at: now + 1))
            #expect(try await reopened.thread(bob)?.status == .open)
            // Reading the thread clears the "back from snooze" mark.
            let read = try await reopened.updateThread(bob) {
                $0.unread = 0
                $0.snooze_ended_at = nil
            }.0
            #expect(read.snoozeEndedAt == nil)
            try await reopened.close()
        } catch {
            try? await first.close()
            throw error
        }
    }
}
