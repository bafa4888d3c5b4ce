import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Store: ingest and the journal")
struct IngestAndJournalTests {
    let customer = "3100000000000001"

    @Test("the same mid twice, in one delivery or two, is stored once and journaled once", arguments: StoreEngine.all)
    func sameMidTwice(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let first = try await store.ingest(try Events.text(customer, "hello", mid: "m_once"))
            #expect(first.storedMessages == 1 && first.duplicates == 0)
            #expect(first.threadsToProcess == [customer])
            #expect(first.context == [ContextTurn(customer: customer, role: .user, text: "hello")])
            #expect(first.events.map(\.type) == [EventType.messageReceived, EventType.threadUpdated])

            let again = try await store.ingest(try Events.text(customer, "hello", mid: "m_once"))
            #expect(again.storedMessages == 0 && again.duplicates == 1)
            #expect(again.events.isEmpty && again.context.isEmpty && again.threadsToProcess.isEmpty)

            // Twice within one delivery.
            let twice = try await store.ingest(
                try Events.text(customer, "hi", mid: "m_twice") + Events.text(customer, "hi", mid: "m_twice"))
            #expect(twice.storedMessages == 1 && twice.duplicates == 1)

            #expect(try await store.history(thread: customer).map(\.id) == ["m_once", "m_twice"])
            #expect(try await store.events(ofType: EventType.messageReceived).count == 2)
            #expect(try await store.thread(customer)?.unread == 2)
        }
    }

    @Test("a redelivered group commit answers per delivery; nothing is stored twice", arguments: StoreEngine.all)
    func redeliveredBatch(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let deliveries = try (0..<5).map { try Events.text(customer, "message \($0)", mid: "m_batch_\($0)") }
            let results = await store.ingest(deliveries, options: IngestOptions())
            #expect(results.count == 5)
            #expect(try results.map { try $0.get().storedMessages } == [1, 1, 1, 1, 1])
            let seqAfterFirst = try await store.lastSeq()

            // Meta retries the same deliveries (say it missed our 200s), mixed with a new one.
            let retry = await store.ingest(deliveries + [try Events.text(customer, "new", mid: "m_batch_new")], options: IngestOptions())
            #expect(try retry.map { try $0.get().storedMessages } == [0, 0, 0, 0, 0, 1])
            #expect(try retry.prefix(5).allSatisfy { try $0.get().duplicates == 1 })
            #expect(try await store.counts().messages == 6)
            // Only the new message journaled anything.
            #expect(try await store.journal(after: seqAfterFirst, limit: 100).map(\.type) == [EventType.messageReceived, EventType.threadUpdated])
        }
    }

    @Test("invalid events are journaled raw with their reason; the valid events beside them are stored", arguments: StoreEngine.all)
    func invalidJournaled(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let now = nowMillis()
            let events = try Events.parse([
                ["sender": ["id": true], "recipient": ["id": .string(Events.account)], "timestamp": .number(Double(now)),
                 "message": ["mid": "m_bad_sender", "text": "who am I"]],
                ["sender": ["id": .string(customer)], "recipient": ["id": .string(Events.account)], "timestamp": .number(Double(now)),
                 "message": ["mid": "m_good", "text": "fine"]],
                ["sender": ["id": .string(customer)], "recipient": ["id": .string(Events.account)], "timestamp": .number(Double(now)),
                 "message": ["text": "no mid"]],
            ])
            let outcome = try await store.ingest(events)
            #expect(outcome.storedMessages == 1)
            #expect(try await store.message(mid: "m_good")?.text == "fine")
            let invalid = try await store.events(ofType: EventType.invalid)
            #expect(invalid.count == 2)
            for event in invalid {
                #expect(event.data["reason"]?.stringValue?.isEmpty == false, "\(event.data)")
                #expect(event.data["raw"] != nil && event.data["raw"] != .null)
                #expect(event.data["source"]?.stringValue == "messaging")
            }
            #expect(outcome.events.filter { $0.type == EventType.invalid }.count == 2, "returned for publishing too")
        }
    }

    @Test("an echo of a message typed in the Instagram app is an operator's line and takes the thread over", arguments: StoreEngine.all)
    func echoTakeover(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            _ = try await store.ingest(try Events.text(customer, "hi", mid: "m_hi"))
            let outcome = try await store.ingest(try Events.echo(to: customer, text: "typed in the app", mid: "m_app"))
            #expect(outcome.storedMessages == 1)
            let line = try #require(try await store.message(mid: "m_app"))
            #expect(line.direction == .outbound && line.author == .operator && line.delivery == .sent)
            #expect(try await store.thread(customer)?.mode == .human)

            // With echo takeover off the thread stays with the bot.
            let other = "3100000000000002"
            _ = try await store.ingest(try Events.text(other, "hi", mid: "m_hi2"))
            _ = try await store.ingest(try Events.echo(to: other, text: "typed", mid: "m_app2"), options: IngestOptions(echoTakeover: false))
            #expect(try await store.thread(other)?.mode == .auto)
        }
    }

    @Test("the journal: seqs ascend, pages resume from a seq, and survive a restart", arguments: StoreEngine.all)
    func journalResume(engine: StoreEngine) async throws {
        try await StoreRig.with(engine) { rig in
            let store = rig.store
            #expect(try await store.lastSeq() == 0)
            for i in 0..<4 { _ = try await store.ingest(try Events.text(customer, "m\(i)", mid: "m_j\(i)")) }
            let all = try await store.wholeJournal()
            #expect(all.count == 8)
            #expect(all.map(\.seq) == all.map(\.seq).sorted() && Set(all.map(\.seq)).count == all.count)
            #expect(try await store.lastSeq() == all.last?.seq)

            // A console that saw up to the third event gets exactly the rest, in pages.
            let seen = all[2].seq
            var resumed: [JournalEvent] = []
            var cursor = seen
            while true {
                let page = try await store.journal(after: cursor, limit: 2)
                guard let last = page.last else { break }
                #expect(page.count <= 2)
                resumed += page
                cursor = last.seq
            }
            #expect(resumed == Array(all.dropFirst(3)))

            let status = try await store.appendEvent(type: EventType.daemonStatus, thread: nil, data: ["sqlite": "up"])
            #expect(status.seq > all.last!.seq)
            #expect(try await store.journal(after: all.last!.seq, limit: 10) == [status])

            // A restarted daemon resumes from the same journal.
            let again = try await rig.reopen()
            #expect(try await again.lastSeq() == status.seq)
            #expect(try await again.journal(after: seen, limit: 100) == Array(all.dropFirst(3)) + [status])
            try await again.close()
        }
    }

    @Test("the blocking form, used on the daemon's own threads, is the same store", arguments: StoreEngine.all)
    func blockingForm(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let events = try Events.text(customer, "from a thread", mid: "m_thread")
            let blocking = store.blocking
            let (outcome, journal) = try await onThread { () throws -> (IngestOutcome, [JournalEvent]) in
                let outcome = try blocking.ingest([events], options: IngestOptions())[0].get()
                return (outcome, try blocking.journal(after: 0, limit: 10))
            }
            #expect(outcome.storedMessages == 1)
            #expect(journal == (try await store.wholeJournal()))
            #expect(try await onThread { try blocking.lastSeq() } == (try await store.lastSeq()))
            #expect(try await store.message(mid: "m_thread")?.text == "from a thread")
        }
    }

    @Test("writes report their outcome by kind", arguments: StoreEngine.all)
    func writeHealthByKind(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            #expect(store.writeHealth.snapshot.paths.isEmpty)
            _ = try await store.ingest(try Events.text(customer, "hi", mid: "m_health"))
            _ = try await store.updateThread(customer) { $0.mode = .human }
            let paths = store.writeHealth.snapshot.paths
            #expect(paths[.ingest]?.lastSuccessAt != nil && paths[.commands]?.lastSuccessAt != nil)
            #expect(paths[.outbox] == nil)
            #expect(!store.writeHealth.snapshot.failing)
            let report = await store.healthReport(minFreeBytes: 0)
            #expect(report.verdict == .up && report.readError == nil)
        }
    }
}

/// Blocking work on a thread of its own (never a cooperative-pool thread), awaited.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
