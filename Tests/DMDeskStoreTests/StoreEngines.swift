import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

/// An engine the store suite runs against: a fresh place for one test's data, and how to open a store on it. Every
/// test takes its store from here (as `any InboxStore`), so a second engine joins the suite by adding itself to
/// `all`.
struct StoreEngine: Sendable, CustomTestStringConvertible {
    let name: String
    /// A fresh, empty place for one test's data (a data directory; a database on a server).
    let makePlace: @Sendable () async throws -> String
    /// A store on `place`; may be called again on the same place (a restart).
    let open: @Sendable (_ place: String) async throws -> any InboxStore

    var testDescription: String { name }

    static let sqlite = StoreEngine(
        name: "SQLite",
        makePlace: { try makeTempDirectory(prefix: "dmdesk-store") },
        open: { try SQLiteStore(dataDir: $0) })

    static let all: [StoreEngine] = [.sqlite]
}

/// One test's store, on data of its own.
struct StoreRig {
    let engine: StoreEngine
    let place: String
    let store: any InboxStore

    /// Runs `body` with a fresh store of `engine` and closes it afterwards.
    static func with(_ engine: StoreEngine, _ body: (StoreRig) async throws -> Void) async throws {
        let place = try await engine.makePlace()
        let rig = StoreRig(engine: engine, place: place, store: try await engine.open(place))
        do {
            try await body(rig)
        } catch {
            try? await rig.store.close()
            throw error
        }
        try await rig.store.close()
    }

    /// Another store on the same data, as a daemon started again after the first one died: the caller closes it.
    func reopen() async throws -> any InboxStore { try await engine.open(place) }
}

/// Runs `body` with a fresh store of `engine` (see `StoreRig.with` for tests that restart it).
func withStore(_ engine: StoreEngine, _ body: (any InboxStore) async throws -> Void) async throws {
    try await StoreRig.with(engine) { rig in try await body(rig.store) }
}

/// Webhook events as the listener hands them to the store: built as Meta sends them, then parsed.
enum Events {
    static let account = WebhookBuilder.accountId

    static func parse(_ items: [JSONValue]) throws -> [WebhookEvent] {
        try WebhookParser.parse(WebhookBuilder.envelope(items: items)).events
    }

    /// One customer's text message.
    static func text(_ from: String, _ text: String, mid: String, at: EpochMillis = nowMillis()) throws -> [WebhookEvent] {
        try parse([[
            "sender": ["id": .string(from)], "recipient": ["id": .string(account)], "timestamp": .number(Double(at)),
            "message": ["mid": .string(mid), "text": .string(text)],
        ]])
    }

    /// The echo of a message the account sent to `customer` (ours, or typed in the Instagram app).
    static func echo(to customer: String, text: String, mid: String, at: EpochMillis = nowMillis()) throws -> [WebhookEvent] {
        try parse([[
            "sender": ["id": .string(account)], "recipient": ["id": .string(customer)], "timestamp": .number(Double(at)),
            "message": ["mid": .string(mid), "text": .string(text), "is_echo": true],
        ]])
    }
}

extension InboxStore {
    /// The journal from the start, every event.
    func wholeJournal() async throws -> [JournalEvent] { try await journal(after: 0, limit: 100_000) }

    func events(ofType type: String) async throws -> [JournalEvent] { try await wholeJournal().filter { $0.type == type } }

    /// Claims every due message of `threads` and hands each batch to someone else (the agent, say): its messages
    /// stay `processing` until that one completes them.
    func claimHandedOff(_ threads: [String]) async throws -> ReplyTick {
        try await claimAndComplete(threads: threads, now: nowMillis(), finishing: [], marking: []) { batch, _ in
            var plan = BatchPlan(thread: batch.thread, mids: batch.mids, plannedMode: batch.mode, reason: "agent")
            plan.handOff = true
            return plan
        }
    }

    /// Claims every due message of `threads` and answers each batch with one bot reply (`reply`), like the rules
    /// responder would.
    func answer(_ threads: [String], reply: String = "thanks!", now: EpochMillis = nowMillis()) async throws -> ReplyTick {
        try await claimAndComplete(threads: threads, now: now, finishing: [], marking: []) { batch, _ in
            BatchPlan(
                thread: batch.thread, mids: batch.mids, plannedMode: batch.mode,
                drafts: [OutboundDraft(thread: batch.thread, recipient: batch.thread, kind: .autoReply, text: reply, author: .bot)],
                reason: "test")
        }
    }
}
