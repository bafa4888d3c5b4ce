import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Store: the reply processor's claim")
struct ProcessingTests {
    let ana = "3200000000000001"
    let ben = "3200000000000002"

    @Test("a tick claims each thread's due messages as one batch, in time order, and answers it once", arguments: StoreEngine.all)
    func claimAndAnswer(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let t = nowMillis() - 10_000
            // Delivered out of order: the batch is in timestamp order.
            _ = try await store.ingest(try Events.text(ana, "second", mid: "m_a2", at: t + 2))
            _ = try await store.ingest(try Events.text(ana, "first", mid: "m_a1", at: t + 1))
            _ = try await store.ingest(try Events.text(ben, "hello", mid: "m_b1", at: t + 3))
            #expect(Set(try await store.threadsWithPending().map(\.thread)) == [ana, ben])
            #expect(try await store.threadsWithPending().allSatisfy { $0.dueAt == nil })

            let tick = try await store.answer([ana, ben, "3200000000000099"])
            #expect(tick.claim.batches.map(\.thread) == [ana, ben])
            #expect(tick.claim.batches[0].mids == ["m_a1", "m_a2"])
            #expect(tick.claim.batches[0].messages.map(\.text) == ["first", "second"])
            #expect(tick.claim.batches[0].mode == .auto && tick.claim.batches[0].connected == false)
            #expect(tick.outcomes.count == 2)
            for outcome in tick.outcomes {
                let done = try outcome.result.get()
                // Handed to this process's outbox only: committed in flight.
                #expect(done.records.count == 1 && done.records[0].status == .sending && done.records[0].sending_at != nil)
                #expect(done.context == [ContextTurn(customer: outcome.batch.thread, role: .assistant, text: "thanks!")])
                #expect(done.events.map(\.type).contains(EventType.messageSent))
            }
            #expect(try await store.message(mid: "m_a1")?.status == .processed)
            #expect(try await store.processingCounts() == [.processed: 3])
            #expect(try await store.threadsWithPending().isEmpty)
            #expect(try await store.inDoubtOutbound().count == 2, "in flight, not pending")
            #expect(try await store.pendingOutbound().isEmpty)

            // Nothing left: a second tick claims nothing.
            let again = try await store.answer([ana, ben])
            #expect(again.claim.batches.isEmpty && again.outcomes.isEmpty)
        }
    }

    @Test("batches left processing by a crash go back to pending at start, and are answered then", arguments: StoreEngine.all)
    func crashReset(engine: StoreEngine) async throws {
        try await StoreRig.with(engine) { rig in
            let store = rig.store
            _ = try await store.ingest(try Events.text(ana, "one", mid: "m_c1"))
            _ = try await store.ingest(try Events.text(ana, "two", mid: "m_c2"))
            // Claimed and handed to someone (the agent) who never finished: the daemon died meanwhile.
            let tick = try await store.claimHandedOff([ana])
            #expect(tick.claim.batches.count == 1)
            #expect(try await store.processingCounts() == [.processing: 2])
            #expect(try await store.threadsWithPending().isEmpty)

            let restarted = try await rig.reopen()
            #expect(try await restarted.resetProcessing() == 2)
            #expect(try await restarted.processingCounts() == [.pending: 2])
            #expect(try await restarted.threadsWithPending().map(\.thread) == [ana])
            #expect(try await restarted.resetProcessing() == 0)
            let answered = try await restarted.answer([ana])
            #expect(answered.claim.batches.first?.mids == ["m_c1", "m_c2"])
            #expect(try await restarted.processingCounts() == [.processed: 2])
            try await restarted.close()
        }
    }

    @Test("a failed batch is retried with backoff, then failed for good and journaled", arguments: StoreEngine.all)
    func failAndRetry(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            _ = try await store.ingest(try Events.text(ana, "hi", mid: "m_f1"))
            var now = nowMillis()
            for attempt in 1...3 {
                let tick = try await store.claimAndComplete(threads: [ana], now: now, finishing: [], marking: []) { _, _ in
                    throw StoreError.invalid("the responder broke")
                }
                let outcome = try #require(tick.outcomes.first)
                #expect(outcome.plan == nil)
                guard case .failure = outcome.result else { Issue.record("planning failed, yet the batch succeeded"); return }
                #expect(try await store.message(mid: "m_f1")?.status == .processing)
                let failure = try await store.failBatch(
                    thread: ana, mids: outcome.batch.mids, error: "the responder broke", now: now, maxAttempts: 3, backoffBaseMillis: 100)
                if attempt < 3 {
                    let retryAt = try #require(failure.retryAt)
                    #expect(retryAt == now + (100 << (attempt - 1)))
                    #expect(failure.events.isEmpty)
                    let message = try #require(try await store.message(mid: "m_f1"))
                    #expect(message.status == .pending && message.attempts == attempt && message.error == "the responder broke")
                    // Not due yet: the claim defers it and says when to look again.
                    let early = try await store.answer([ana], now: retryAt - 1)
                    #expect(early.claim.batches.isEmpty && early.claim.deferred[ana] == retryAt)
                    #expect(try await store.threadsWithPending().first?.dueAt == retryAt)
                    now = retryAt
                } else {
                    #expect(failure.retryAt == nil)
                    #expect(failure.events.map(\.type) == [EventType.messageUpdated])
                    let message = try #require(try await store.message(mid: "m_f1"))
                    #expect(message.status == .failed && message.error?.contains("after 3 attempts") == true)
                }
            }
            #expect(try await store.threadsWithPending().isEmpty)
            // A message not `processing` is left alone.
            let noop = try await store.failBatch(thread: ana, mids: ["m_f1"], error: "again")
            #expect(noop.events.isEmpty && noop.retryAt == nil)
        }
    }

    @Test("a thread taken over between plan and completion gets nothing sent", arguments: StoreEngine.all)
    func takenOverMeanwhile(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            _ = try await store.ingest(try Events.text(ana, "hi", mid: "m_t1"))
            _ = try await store.updateThread(ana) { $0.mode = .human }
            let plan = BatchPlan(
                thread: ana, mids: [], plannedMode: .auto,
                drafts: [OutboundDraft(thread: ana, recipient: ana, kind: .autoReply, text: "bot words", author: .bot)], reason: "agent")
            let done = try await store.completeBatches([plan])[0].get()
            #expect(done.suppressed && done.records.isEmpty)
            #expect(try await store.outbound(thread: ana).isEmpty)
            #expect(try await store.thread(ana)?.awaitingOperator == true)
        }
    }

    @Test("released messages go back to pending; a handover switches the thread to a person", arguments: StoreEngine.all)
    func releaseAndHandover(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            _ = try await store.ingest(try Events.text(ana, "a", mid: "m_r1"))
            _ = try await store.ingest(try Events.text(ana, "b", mid: "m_r2"))
            let tick = try await store.claimHandedOff([ana])
            #expect(tick.claim.batches.first?.mids.count == 2)
            #expect(try await store.releaseToPending(mids: ["m_r2", "m_unknown"]) == 1)
            #expect(try await store.message(mid: "m_r2")?.status == .pending)
            #expect(try await store.releaseToPending(mids: []) == 0)

            let handover = BatchPlan(thread: ana, mids: ["m_r1"], plannedMode: .auto, handover: true, awaitOperator: true, reason: "rule")
            let done = try await store.completeBatches([handover])[0].get()
            #expect(done.events.map(\.type) == [EventType.threadUpdated])
            let thread = try #require(try await store.thread(ana))
            #expect(thread.mode == .human && thread.awaitingOperator)
            #expect(try await store.message(mid: "m_r1")?.status == .processed)
        }
    }

    @Test("agent steps are kept in order; a run that acted is not answered again", arguments: StoreEngine.all)
    func agentSteps(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            #expect(try await store.agentAnsweredMessages(thread: ana, batch: "m_s1") == nil)
            let request = AgentStepDraft(kind: .request, arguments: #"["m_s1","m_s2"]"#)
            let (view, event) = try await store.recordAgentStep(request, thread: ana, batch: "m_s1")
            #expect(event.type == EventType.agentStep && event.thread == ana && view.kind == .request)
            // A tool call that failed did not act.
            _ = try await store.recordAgentStep(AgentStepDraft(kind: .tool, tool: "send_message", ok: false), thread: ana, batch: "m_s1")
            #expect(try await store.agentAnsweredMessages(thread: ana, batch: "m_s1") == nil)
            let long = String(repeating: "x", count: StorePolicy.maxStepText + 50)
            _ = try await store.recordAgentStep(AgentStepDraft(kind: .tool, tool: "send_message", result: long), thread: ana, batch: "m_s1")
            #expect(try await store.agentAnsweredMessages(thread: ana, batch: "m_s1") == ["m_s1", "m_s2"])
            let steps = try await store.agentSteps(thread: ana)
            #expect(steps.map(\.kind) == [.request, .tool, .tool])
            #expect(steps.last?.result?.count == StorePolicy.maxStepText + 1, "cut, with an ellipsis")
            #expect(try await store.agentSteps(thread: ben).isEmpty)
        }
    }
}
