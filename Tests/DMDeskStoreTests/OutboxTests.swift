import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Store: the outbox")
struct OutboxTests {
    let customer = "3300000000000001"

    func draft(_ text: String, kind: OutboundKind = .manual, author: MessageAuthor = .operator) -> OutboundDraft {
        OutboundDraft(thread: customer, recipient: customer, kind: kind, text: text, author: author)
    }

    @Test("a queued row is pending with its line in the conversation; marking it in flight works once", arguments: StoreEngine.all)
    func queueAndMark(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let change = try await store.enqueue(draft("On its way"))
            let id = try #require(change.record.id)
            #expect(change.record.status == .pending && change.record.message_mid == "out:\(id)")
            #expect(change.events.map(\.type) == [EventType.messageSent, EventType.threadUpdated, EventType.outboundUpdated])
            #expect(try await store.pendingOutbound().map(\.id) == [id])
            #expect(try await store.history(thread: customer).map(\.delivery) == [.pending])
            #expect(try await store.thread(customer)?.lastText == "On its way")

            let marks = await store.markSending([id, id, 999_999])
            guard case .success(.marked(let marked)) = marks[0] else { Issue.record("not marked: \(marks[0])"); return }
            #expect(marked.status == .sending && marked.sending_at != nil && marked.id == id)
            guard case .success(.notPending) = marks[1] else { Issue.record("marked twice"); return }
            guard case .success(.notPending) = marks[2] else { Issue.record("a missing row was marked"); return }
            #expect(try await store.pendingOutbound().isEmpty)
            #expect(try await store.inDoubtOutbound().map(\.id) == [id])
            #expect(try await store.outboundStatuses([id, 999_999]).mapValues(\.status) == [id: .sending])
            #expect(try await store.outboxCounts() == [.sending: 1])
        }
    }

    @Test("media by URL: its own row (type, url, no text), a conversation line with the attachment, \"[image]\" as preview; kept across a reopen",
          arguments: StoreEngine.all)
    func attachmentRows(engine: StoreEngine) async throws {
        try await StoreRig.with(engine) { rig in
            let photo = OutgoingAttachment(type: .image, url: "https://cdn.example.com/p/1.jpg")
            let changes = try await rig.store.enqueue([
                draft("Here you go"),
                OutboundDraft(thread: customer, recipient: customer, kind: .manual, text: nil, author: .operator, attachment: photo),
            ], takeOver: true)
            let ids = changes.compactMap(\.record.id)
            #expect(ids.count == 2 && ids[1] == ids[0] + 1, "queued in order, in one transaction")
            #expect(changes[1].record.attachment == photo && changes[1].record.text == nil)
            #expect(changes[1].record.view.attachment == photo)
            #expect(changes[0].record.attachment == nil)
            let sent = try #require(changes[1].events.first { $0.type == EventType.messageSent })
            #expect(try sent.data.decode(MessageView.self).attachments == [Attachment(type: "image", url: photo.url)])
            #expect(try await rig.store.thread(customer)?.lastText == "[image]")
            let lines = try await rig.store.history(thread: customer)
            #expect(lines.map(\.text) == ["Here you go", nil])
            #expect(lines.last?.attachments == [Attachment(type: "image", url: photo.url)])
            _ = await rig.store.finishOutbound([OutboundResult(id: ids[1], status: .sent, attempts: 1, remoteId: "m_1")])
            let reopened = try await rig.reopen()
            #expect(try await reopened.outbound(id: ids[1])?.attachment == photo)
            #expect(try await reopened.outbound(id: ids[1])?.status == .sent)
            #expect(try await reopened.outbound(id: ids[0])?.attachment == nil)
            try await reopened.close()
        }
    }

    @Test("results are recorded in one commit, each alone; the line follows; a failed row can be retried", arguments: StoreEngine.all)
    func results(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let a = try #require(try await store.enqueue(draft("A")).record.id)
            let b = try #require(try await store.enqueue(draft("B")).record.id)
            _ = await store.markSending([a, b])
            let results = await store.finishOutbound([
                OutboundResult(id: a, status: .sent, attempts: 1, remoteId: "mid.a"),
                OutboundResult(id: 424_242, status: .sent, attempts: 1),
                OutboundResult(id: b, status: .failed, attempts: 3, error: "Instagram said no"),
            ])
            #expect(try results[0].get().record.status == .sent)
            guard case .failure(let missing) = results[1] else { Issue.record("a missing row was recorded"); return }
            #expect(missing as? StoreError == .notFound("outbound 424242"))
            #expect(try results[2].get().record.error == "Instagram said no")
            let lines = try await store.history(thread: customer)
            #expect(lines.map(\.delivery) == [.sent, .failed])
            #expect(lines[0].mid == "mid.a" && lines[1].error == "Instagram said no")

            // A sent row cannot be retried; a failed one goes back to pending.
            await #expect(throws: StoreError.self) { try await store.retryOutbound(id: a) }
            await #expect(throws: StoreError.notFound("outbound 31337")) { try await store.retryOutbound(id: 31337) }
            let retried = try await store.retryOutbound(id: b)
            #expect(retried.record.status == .pending && retried.record.error == nil)
            #expect(try await store.history(thread: customer).last?.delivery == .pending)
            #expect(try await store.knownMessageIds(["mid.a", "mid.unknown"]) == ["mid.a"])
        }
    }

    @Test("a manual reply takes the thread over in the same transaction", arguments: StoreEngine.all)
    func takeOverOnReply(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            _ = try await store.ingest(try Events.text(customer, "hi", mid: "m_hi"))
            _ = try await store.updateThread(customer) { $0.awaiting_operator = true }
            let change = try await store.enqueue(draft("Hi, I'm Sam"), takeOver: true)
            #expect(change.record.author == .operator)
            let thread = try #require(try await store.thread(customer))
            #expect(thread.mode == .human && !thread.awaitingOperator)
            #expect(store.writeHealth.snapshot.paths[.commands]?.lastSuccessAt != nil)

            // Reactions and WhatsApp notifications have no line in the conversation.
            let lines = try await store.history(thread: customer).count
            _ = try await store.enqueue(
                OutboundDraft(thread: customer, recipient: customer, kind: .reaction, text: "love", payload: ["mid": "m_hi", "reaction": "love"], author: .operator))
            _ = try await store.enqueue(
                OutboundDraft(thread: customer, recipient: "15550001111", kind: .managerNotification, channel: .whatsapp, text: "look", author: .system))
            #expect(try await store.history(thread: customer).count == lines)
            #expect(try await store.outbound(thread: customer).map(\.kind) == [.manual, .reaction, .managerNotification])
        }
    }

    @Test("a row proven sent by its echo is not downgraded by a late failure, and a later echo changes nothing", arguments: StoreEngine.all)
    func noDowngrade(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let id = try #require(try await store.enqueue(draft("See you soon")).record.id)
            guard case .success(.marked) = await store.markSending([id])[0] else { Issue.record("not marked"); return }

            let outcome = try await store.ingest(try Events.echo(to: customer, text: "See you soon", mid: "mid.echo.1"))
            #expect(outcome.storedMessages == 0)
            var row = try #require(try await store.outbound(id: id))
            #expect(row.status == .sent && row.remote_message_id == "mid.echo.1")

            let late = try await store.finishOutbound(id: id, status: .failed, attempts: 3, error: "timed out")
            #expect(late.events.isEmpty)
            row = try #require(try await store.outbound(id: id))
            #expect(row.status == .sent && row.error == nil && row.remote_message_id == "mid.echo.1")
            let line = try #require(try await store.history(thread: customer).last)
            #expect(line.delivery == .sent && line.mid == "mid.echo.1")
            #expect(try await store.thread(customer)?.mode == .auto)
            #expect(try await store.history(thread: customer).count == 1, "no operator line for our own echo")

            // The echo again (Meta redelivers): ours already, nothing changes.
            let again = try await store.ingest(try Events.echo(to: customer, text: "See you soon", mid: "mid.echo.1"))
            #expect(again.storedMessages == 0 && again.duplicates == 1 && again.events.isEmpty)
            #expect(try await store.provenSent(id: id, remoteId: "mid.other") == nil, "already sent: nothing to prove")
        }
    }

    @Test("the echo of media (Meta's own CDN URL) proves the in-flight row of that type sent; no operator line", arguments: StoreEngine.all)
    func mediaEcho(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let photo = OutgoingAttachment(type: .image, url: "https://cdn.example.com/p/1.jpg")
            let id = try #require(try await store.enqueue(OutboundDraft(
                thread: customer, recipient: customer, kind: .manual, text: nil, author: .operator, attachment: photo)).record.id)
            guard case .success(.marked) = await store.markSending([id])[0] else { Issue.record("not marked"); return }
            // A video echo matches nothing in flight: an answer typed in the app.
            let video = try Events.parse([[
                "sender": ["id": .string(Events.account)], "recipient": ["id": .string(customer)], "timestamp": .number(Double(nowMillis())),
                "message": ["mid": "mid.v", "is_echo": true, "attachments": [["type": "video", "payload": ["url": "https://lookaside.fbsbx.com/v"]]]],
            ]])
            #expect(try await store.ingest(video, options: IngestOptions(echoTakeover: false)).storedMessages == 1)
            #expect(try await store.outbound(id: id)?.status == .sending)
            let image = try Events.parse([[
                "sender": ["id": .string(Events.account)], "recipient": ["id": .string(customer)], "timestamp": .number(Double(nowMillis())),
                "message": ["mid": "mid.i", "is_echo": true, "attachments": [["type": "image", "payload": ["url": "https://lookaside.fbsbx.com/i"]]]],
            ]])
            #expect(try await store.ingest(image).storedMessages == 0)
            let row = try #require(try await store.outbound(id: id))
            #expect(row.status == .sent && row.remote_message_id == "mid.i")
        }
    }

    @Test("echo matching: same recipient and text, oldest first, not before the row went in flight", arguments: StoreEngine.all)
    func echoMatching(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            func queue(_ text: String) async throws -> Int64 {
                let id = try #require(try await store.enqueue(draft(text, kind: .autoReply, author: .bot)).record.id)
                _ = await store.markSending([id])
                return id
            }
            let a = try await queue("same words")
            let b = try await queue("same words")
            // Long before either went in flight: typed in the app, not ours.
            _ = try await store.ingest(try Events.echo(to: customer, text: "same words", mid: "mid.old", at: nowMillis() - 3_600_000))
            #expect(try await store.outbound(id: a)?.status == .sending)
            _ = try await store.ingest(try Events.echo(to: "someone-else", text: "same words", mid: "mid.other"))
            #expect(try await store.outbound(id: a)?.status == .sending)
            _ = try await store.ingest(try Events.echo(to: customer, text: "other words", mid: "mid.words"))
            #expect(try await store.outbound(id: a)?.status == .sending)
            _ = try await store.ingest(try Events.echo(to: customer, text: "same words", mid: "mid.first"))
            #expect(try await store.outbound(id: a)?.remote_message_id == "mid.first")
            #expect(try await store.outbound(id: b)?.status == .sending)
            _ = try await store.ingest(try Events.echo(to: customer, text: "same words", mid: "mid.second"))
            #expect(try await store.outbound(id: b)?.remote_message_id == "mid.second")
        }
    }

    @Test("an echo after the row was recorded failed (its last attempt timed out after Meta took it): sent after all", arguments: StoreEngine.all)
    func echoAfterFailure(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let id = try #require(try await store.enqueue(draft("Timed out")).record.id)
            _ = await store.markSending([id])
            _ = try await store.finishOutbound(id: id, status: .failed, attempts: 3, error: "network: timed out")
            _ = try await store.ingest(try Events.echo(to: customer, text: "Timed out", mid: "mid.late"))
            let row = try #require(try await store.outbound(id: id))
            #expect(row.status == .sent && row.remote_message_id == "mid.late" && row.error == nil)
            #expect(try await store.history(thread: customer).map(\.delivery) == [.sent])
            #expect(try await store.thread(customer)?.mode == .auto)
            // The same words long after the failure are an answer typed in the app, not this row.
            let old = try #require(try await store.enqueue(draft("Typed later")).record.id)
            _ = await store.markSending([old])
            _ = try await store.finishOutbound(id: old, status: .failed, attempts: 3, error: "network: timed out")
            _ = try await store.ingest(try Events.echo(to: customer, text: "Typed later", mid: "mid.app", at: nowMillis() + 3_600_000))
            #expect(try await store.outbound(id: old)?.status == .failed)
        }
    }

    @Test("rows in doubt after a restart: proven sent, or renewed for sending again", arguments: StoreEngine.all)
    func inDoubt(engine: StoreEngine) async throws {
        try await StoreRig.with(engine) { rig in
            let store = rig.store
            _ = try await store.ingest(try Events.text(customer, "hi", mid: "m_doubt"))
            _ = try await store.answer([customer], reply: "first reply")
            _ = try await store.ingest(try Events.text(customer, "more", mid: "m_doubt2"))
            _ = try await store.answer([customer], reply: "second reply")
            let restarted = try await rig.reopen()
            let rows = try await restarted.inDoubtOutbound()
            #expect(rows.map(\.text) == ["first reply", "second reply"])
            let (first, second) = (try #require(rows[0].id), try #require(rows[1].id))

            let proven = try #require(try await restarted.provenSent(id: first, remoteId: "mid.proof"))
            #expect(proven.record.status == .sent && proven.record.attempts == 1)
            #expect(proven.events.contains { $0.type == EventType.outboundUpdated })
            #expect(try await restarted.renewSending(first) == nil, "no longer in doubt")

            let before = try #require(rows[1].sending_at)
            let renewed = try #require(try await restarted.renewSending(second, now: before + 60_000))
            #expect(renewed.status == .sending && renewed.sending_at == before + 60_000)
            #expect(try await restarted.inDoubtOutbound().map(\.id) == [second])
            try await restarted.close()
        }
    }

    @Test("the processor's tick records send results and marks rows in the same transaction", arguments: StoreEngine.all)
    func tickCarriesOutboxWrites(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let sent = try #require(try await store.enqueue(draft("sent one")).record.id)
            let queued = try #require(try await store.enqueue(draft("queued one")).record.id)
            _ = await store.markSending([sent])
            let tick = try await store.claimAndComplete(
                threads: [], now: nowMillis(), finishing: [OutboundResult(id: sent, status: .sent, attempts: 1, remoteId: "mid.t")],
                marking: [queued, queued]
            ) { _, _ in throw StoreError.invalid("no batches to plan") }
            #expect(tick.claim.batches.isEmpty)
            #expect(try tick.finished.map { try $0.get().record.status } == [.sent])
            guard case .success(.marked) = tick.marked[0], case .success(.notPending) = tick.marked[1] else {
                Issue.record("marks: \(tick.marked)")
                return
            }
            #expect(try await store.outboundStatuses([sent, queued]).mapValues(\.status) == [sent: .sent, queued: .sending])
        }
    }
}
