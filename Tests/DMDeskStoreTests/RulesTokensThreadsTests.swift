import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Synchronization
import Testing

@Suite("Store: rules")
struct StoreRulesTests {
    @Test("rules are checked, kept in priority order, removed by id; the starter set is added once", arguments: StoreEngine.all)
    func rules(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let late = try await store.addRule(RuleRecord(pattern: "refund", matchKind: .word, reply: "Sure.", priority: 50, action: .reply))
            let early = try await store.addRule(RuleRecord(pattern: "human", matchKind: .contains, reply: nil, priority: 10, action: .handover))
            let off = try await store.addRule(
                RuleRecord(pattern: "hours", matchKind: .contains, reply: "9-5", priority: 1, active: false, action: .reply))
            #expect(late.id != nil && early.id != nil && off.id != nil)
            #expect(try await store.rules().map(\.pattern) == ["hours", "human", "refund"])
            #expect(try await store.rules(includeInactive: false).map(\.pattern) == ["human", "refund"])
            let stored = try #require(try await store.rules().first { $0.id == late.id })
            #expect(stored.match_kind == .word && stored.action == .reply && stored.reply == "Sure.")

            await #expect(throws: RuleError.self) {
                try await store.addRule(RuleRecord(pattern: "  ", matchKind: .contains, reply: "x", priority: 1, action: .reply))
            }
            await #expect(throws: RuleError.self) {
                try await store.addRule(RuleRecord(pattern: "(unclosed", matchKind: .regex, reply: "x", priority: 1, action: .reply))
            }
            await #expect(throws: RuleError("a rule with action 'both' needs a reply text")) {
                try await store.addRule(RuleRecord(pattern: "ok", matchKind: .contains, reply: " ", priority: 1, action: .both))
            }
            #expect(try await store.rules().count == 3)

            #expect(try await store.removeRule(id: off.id!))
            #expect(try await store.removeRule(id: off.id!) == false)

            let seeded = try await store.seedRules()
            #expect(seeded.count == StarterRules.shop.count)
            #expect(try await store.seedRules().isEmpty)
            #expect(try await store.rules().count == 2 + StarterRules.shop.count)
        }
    }

    @Test("a tick plans with the rules active in its own transaction, changes included", arguments: StoreEngine.all)
    func ticksSeeRuleChanges(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let customer = "3400000000000001"
            func patternsSeen() async throws -> [String] {
                _ = try await store.ingest(try Events.text(customer, "hi", mid: "m_" + UUID().uuidString))
                let seen = Mutex<[String]>([])
                _ = try await store.claimAndComplete(threads: [customer], now: nowMillis(), finishing: [], marking: []) { batch, rules in
                    seen.withLock { $0 = rules.rules.map(\.record.pattern) }
                    return BatchPlan(thread: batch.thread, mids: batch.mids, plannedMode: batch.mode, reason: "test")
                }
                return seen.withLock { $0 }
            }
            #expect(try await patternsSeen() == [])
            let rule = try await store.addRule(RuleRecord(pattern: "hi", matchKind: .word, reply: "hello!", priority: 5, action: .reply))
            #expect(try await patternsSeen() == ["hi"])
            _ = try await store.removeRule(id: rule.id!)
            #expect(try await patternsSeen() == [])
        }
    }
}

@Suite("Store: verification tokens")
struct StoreTokenTests {
    let igId = "3500000000000001"

    /// Why a consumption was refused (nil: it connected the profile).
    func refusal(_ result: Result<VerificationResult, VerificationFailure>) -> VerificationFailure? {
        if case .failure(let why) = result { return why }
        return nil
    }

    @Test("a token per creating event: the same event again gets the same token", arguments: StoreEngine.all)
    func issue(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let hash = VerificationTokens.hash(VerificationTokens.generate())
            let (token, created) = try await store.issueVerificationToken(hash: hash, igId: igId, eventId: "evt-1")
            #expect(created && token.token_hash == hash && token.ig_id == igId && token.consumed_at == nil)
            #expect(token.expires_at == token.created_at + VerificationTokens.lifetimeMillis)
            let other = VerificationTokens.hash(VerificationTokens.generate())
            let (again, createdAgain) = try await store.issueVerificationToken(hash: other, igId: "someone-else", eventId: "evt-1")
            #expect(!createdAgain && again == token)
            #expect(try await store.verificationToken(eventId: "evt-1") == token)
            #expect(try await store.verificationToken(eventId: "evt-2") == nil)
            #expect(try await store.verificationTokens(igId: igId) == [token])
        }
    }

    @Test("consuming: unknown, another account's, connected once, then used; expired", arguments: StoreEngine.all)
    func consume(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let plain = VerificationTokens.generate()
            _ = try await store.issueVerificationToken(hash: VerificationTokens.hash(plain), igId: igId, eventId: "evt-c")
            #expect(refusal(try await store.consumeVerification(token: VerificationTokens.generate(), igId: igId)) == .unknown)
            #expect(refusal(try await store.consumeVerification(token: plain, igId: "someone-else")) == .wrongAccount)
            guard case .success(let result) = try await store.consumeVerification(token: plain, igId: igId) else {
                Issue.record("not connected")
                return
            }
            #expect(result.igId == igId && result.events.map(\.type) == [EventType.threadUpdated])
            #expect(try await store.thread(igId)?.connected == true)
            #expect(refusal(try await store.consumeVerification(token: plain, igId: igId)) == .used)

            let later = VerificationTokens.generate()
            let (token, _) = try await store.issueVerificationToken(hash: VerificationTokens.hash(later), igId: igId, eventId: "evt-e")
            #expect(refusal(try await store.consumeVerification(token: later, igId: igId, now: token.expires_at)) == .expired)
            #expect(try await store.verificationToken(eventId: "evt-e")?.consumed_at == nil, "a refusal changes nothing")
        }
    }

    @Test("a verification link is queued with its token stored first; a known token must be usable", arguments: StoreEngine.all)
    func link(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            func draft(_ to: String) -> OutboundDraft {
                OutboundDraft(thread: to, recipient: to, kind: .verification, text: "Please connect: https://x/verify", author: .bot)
            }
            let plain = VerificationTokens.generate()
            let hash = VerificationTokens.hash(plain)
            let change = try await store.queueVerificationLink(hash: hash, igId: igId, draft: draft(igId)).get()
            #expect(change.record.kind == .verification && change.record.status == .pending)
            #expect(try await store.verificationTokens(igId: igId).map(\.token_hash) == [hash])
            // The same token again: still usable, queued again (the caller asked twice).
            _ = try await store.queueVerificationLink(hash: hash, igId: igId, draft: draft(igId)).get()
            #expect(try await store.verificationTokens(igId: igId).count == 1)

            let other = "3500000000000002"
            #expect(try await store.queueVerificationLink(hash: hash, igId: other, draft: draft(other)).map(\.record.id) == .failure(.wrongAccount))
            let (token, _) = try await store.issueVerificationToken(hash: VerificationTokens.hash("expiring-token-0001"), igId: other, eventId: "e")
            #expect(
                try await store.queueVerificationLink(
                    hash: token.token_hash, igId: other, draft: draft(other), now: token.expires_at
                ).map(\.record.id) == .failure(.expired))
            _ = try await store.consumeVerification(token: plain, igId: igId)
            #expect(try await store.queueVerificationLink(hash: hash, igId: igId, draft: draft(igId)).map(\.record.id) == .failure(.used))
            #expect(try await store.outbound(thread: other).isEmpty, "a refused link queues nothing")
            #expect(try await store.outbound(thread: igId).count == 2)
        }
    }
}

@Suite("Store: threads and profiles")
struct StoreThreadTests {
    @Test("updating a thread journals thread.updated once per real change; unknown threads are not found", arguments: StoreEngine.all)
    func update(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let customer = "3600000000000001"
            _ = try await store.ingest(try Events.text(customer, "hi", mid: "m_u1"))
            let (summary, event) = try await store.updateThread(customer) {
                $0.mode = .human
                $0.status = .resolved
                $0.unread = 0
            }
            #expect(summary.mode == .human && summary.status == .resolved && summary.unread == 0)
            let journaled = try #require(event)
            #expect(journaled.type == EventType.threadUpdated && journaled.thread == customer)
            #expect(journaled.data["mode"]?.stringValue == "human" && journaled.data["status"]?.stringValue == "resolved")
            let (same, none) = try await store.updateThread(customer) { $0.mode = .human }
            #expect(same == summary && none == nil)
            await #expect(throws: StoreError.notFound("thread nobody")) { try await store.updateThread("nobody") { $0.unread = 0 } }

            // A new message reopens a resolved thread and counts as unread.
            _ = try await store.ingest(try Events.text(customer, "back again", mid: "m_u2"))
            let reopened = try #require(try await store.thread(customer))
            #expect(reopened.status == .open && reopened.unread == 1 && reopened.lastText == "back again")
            #expect(reopened.awaitingOperator, "human mode: a person is awaited")
            #expect(reopened.lastInboundAt != nil)
        }
    }

    @Test("listing threads: newest first, filtered by mode, status, unread and search", arguments: StoreEngine.all)
    func list(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let t = nowMillis() - 60_000
            let (a, b, c) = ("3600000000000011", "3600000000000012", "3600000000000013")
            _ = try await store.ingest(try Events.text(a, "where is my order", mid: "m_l1", at: t + 1))
            _ = try await store.ingest(try Events.text(b, "100% cotton?", mid: "m_l2", at: t + 2))
            _ = try await store.ingest(try Events.text(c, "thanks", mid: "m_l3", at: t + 3))
            _ = try await store.updateThread(b) { $0.mode = .human }
            _ = try await store.updateThread(c) { $0.unread = 0 }
            #expect(try await store.threads().map(\.id) == [c, b, a])
            #expect(try await store.threads(ThreadFilter(mode: .human)).map(\.id) == [b])
            #expect(try await store.threads(ThreadFilter(unreadOnly: true)).map(\.id) == [b, a])
            #expect(try await store.threads(ThreadFilter(status: .resolved)).isEmpty)
            #expect(try await store.threads(ThreadFilter(search: "ORDER")).map(\.id) == [a])
            #expect(try await store.threads(ThreadFilter(search: "%")).map(\.id) == [b], "% is a character, not a wildcard")
            #expect(try await store.threads(ThreadFilter(limit: 1)).map(\.id) == [c])
            let counts = try await store.counts()
            #expect(counts.threads == 3 && counts.messages == 3 && counts.pendingOutbound == 0)
            #expect(counts.events == (try await store.lastSeq()))
        }
    }

    @Test("profiles: fetched once, names show in the thread's summary", arguments: StoreEngine.all)
    func profiles(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let (a, b) = ("3600000000000021", "3600000000000022")
            _ = try await store.ingest(try Events.text(a, "hi", mid: "m_p1"))
            _ = try await store.ingest(try Events.text(b, "hi", mid: "m_p2"))
            #expect(try await store.profilesToFetch([a, b]) == [a, b])
            let saved = await store.saveProfiles([
                (id: a, username: "ana.k", name: "Ana K", picture: nil),
                (id: "3600000000000099", username: "ghost", name: nil, picture: nil),
            ])
            let event = try #require(try saved[0].get())
            #expect(event.type == EventType.threadUpdated && event.data["username"]?.stringValue == "ana.k")
            #expect(try saved[1].get() == nil, "no such thread: nothing to journal")
            #expect(try await store.profilesToFetch([a, b]) == [b])
            let summary = try #require(try await store.thread(a))
            #expect(summary.username == "ana.k" && summary.displayName == "Ana K")
        }
    }
}
