import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// What one `dmdesk sync` run did (the `sync` request's result).
public struct SyncReport: Codable, Sendable, Equatable {
    /// Messages from this time on were looked at (epoch ms).
    public var since: EpochMillis
    /// Conversations with activity since then.
    public var conversations = 0
    /// Pages of the conversation list read.
    public var pages = 0
    /// Messages Meta listed in those conversations since then.
    public var messages = 0
    /// Message details fetched (those the store did not have).
    public var fetched = 0
    /// Messages stored by this run.
    public var inserted = 0
    /// Messages the store already had.
    public var known = 0
    /// Messages Meta would not give details of (it keeps them for a conversation's 20 most recent only).
    public var unavailable = 0

    public init(since: EpochMillis) { self.since = since }
}

/// Why a sync run stopped (with what it had done by then).
public struct SyncFailure: Error, CustomStringConvertible {
    public var message: String
    public var report: SyncReport?
    public var description: String {
        guard let r = report else { return message }
        return "\(message) (after \(r.conversations) conversations, \(r.inserted) messages inserted)"
    }
}

/// Pulls recent conversations through Meta's Conversations API and stores the messages the store lacks — marked
/// synced and `processed`, so the bot never answers them — and tells consoles (the events go on the bus). One run
/// at a time; `newerUnknownMessages` is the silence check's question to the same API.
final class ConversationSync: Sendable {
    let graph: GraphClient
    let store: any InboxStore
    let configuredAccount: String?
    let logger: Logger
    let publish: @Sendable ([JournalEvent]) -> Void
    /// A 190 here is the token's state like any other call's: the banner, /health and the manager's message.
    let token: TokenState?
    /// Meta's answers for whole seconds against our milliseconds: a message this close to the newest stored one
    /// is "newer" only if its id is unknown.
    static let secondRounding: EpochMillis = 1000
    static let maxPages = 200

    private let running = Mutex(false)
    private let account = Mutex<String?>(nil)

    init(
        graph: GraphClient, store: any InboxStore, accountId: String?, logger: Logger, token: TokenState? = nil,
        publish: @escaping @Sendable ([JournalEvent]) -> Void
    ) {
        self.token = token
        self.graph = graph
        self.store = store
        configuredAccount = accountId
        self.logger = logger
        self.publish = publish
    }

    var configured: Bool { !(graph.settings.accessToken ?? "").isEmpty }

    /// The business account's id: configured, or asked of Meta once (`GET /me`).
    func businessId() async throws -> String {
        if let id = configuredAccount ?? account.withLock({ $0 }) { return id }
        let me = try await graph.me()
        let id = me.userId ?? me.id
        account.withLock { $0 = id }
        return id
    }

    func run(since: EpochMillis) async throws -> SyncReport {
        guard configured else {
            throw SyncFailure(message: "INSTAGRAM_ACCESS_TOKEN is not set: the Conversations API needs it", report: nil)
        }
        guard running.withLock({ r in defer { r = true }; return !r }) else {
            throw SyncFailure(message: "a sync is already running; wait for it to finish", report: nil)
        }
        defer { running.withLock { $0 = false } }
        var report = SyncReport(since: since)
        do {
            let business = try await businessId()
            var after: String? = nil
            pages: while report.pages < Self.maxPages {
                let page = try await graph.conversations(after: after)
                report.pages += 1
                for conversation in page.conversations {
                    // Newest activity first: the first one older than the window ends the walk.
                    if let updated = conversation.updatedAt, updated + Self.secondRounding <= since { break pages }
                    report.conversations += 1
                    try await syncConversation(conversation.id, business: business, since: since, report: &report)
                }
                guard let next = page.after else { break }
                after = next
            }
        } catch let error as GraphError {
            if error.isTokenInvalid { token?.markInvalid("\(error)") }
            logger.warning("sync stopped", metadata: ["error": "\(error)", "inserted": "\(report.inserted)"])
            throw SyncFailure(message: Self.explain(error), report: report)
        }
        logger.info(
            "sync done",
            metadata: [
                "conversations": "\(report.conversations)", "messages": "\(report.messages)", "fetched": "\(report.fetched)",
                "inserted": "\(report.inserted)", "known": "\(report.known)", "unavailable": "\(report.unavailable)",
            ])
        return report
    }

    private func syncConversation(_ id: String, business: String, since: EpochMillis, report: inout SyncReport) async throws {
        let refs = try await graph.conversationMessageRefs(id).filter { ref in
            ref.createdAt.map { $0 + Self.secondRounding > since } ?? true
        }
        report.messages += refs.count
        guard !refs.isEmpty else { return }
        let known = try await store.knownMessageIds(refs.map(\.id))
        report.known += known.count
        var found: [SyncedMessage] = []
        for ref in refs where !known.contains(ref.id) {
            // Meta answers (#100) for a message older than the conversation's 20 most recent, or deleted.
            let answer: Result<GraphMessage, GraphError>
            do { answer = .success(try await graph.message(ref.id)) } catch { answer = .failure(error) }
            guard case .success(let message) = answer else {
                if case .failure(let error) = answer, !(error.kind == .meta && error.code == 100) { throw error }
                report.unavailable += 1
                continue
            }
            report.fetched += 1
            guard let synced = Self.synced(message, business: business, fallbackTime: ref.createdAt) else {
                report.unavailable += 1
                continue
            }
            found.append(synced)
        }
        let outcome = try await store.insertSynced(found)
        report.inserted += outcome.inserted
        report.known += outcome.known
        publish(outcome.events)
    }

    static func synced(_ m: GraphMessage, business: String, fallbackTime: EpochMillis?) -> SyncedMessage? {
        guard let from = m.fromId, let time = m.createdAt ?? fallbackTime else { return nil }
        // Meta answers `message: ""` for media and shares (their details are not fetched): shown as an attachment.
        var m = m
        if m.text?.isEmpty == true { m.text = nil }
        if from == business {
            guard let customer = m.toIds.first(where: { $0 != business }) else { return nil }
            return SyncedMessage(mid: m.id, thread: customer, direction: .outbound, text: m.text, timestamp: time)
        }
        return SyncedMessage(mid: m.id, thread: from, direction: .inbound, text: m.text, timestamp: time)
    }

    /// How many messages Meta shows, newer than the newest stored one, that the store lacks: the silence check.
    /// Reads the first page of conversations only (newest activity first) and the messages of those newer.
    func newerUnknownMessages() async throws -> Int {
        do { return try await countNewerUnknown() } catch let error as GraphError {
            if error.isTokenInvalid { token?.markInvalid("\(error)") }
            throw error
        }
    }

    private func countNewerUnknown() async throws -> Int {
        let newest = try await store.newestMessageAt() ?? 0
        let page = try await graph.conversations()
        var count = 0
        for conversation in page.conversations {
            guard let updated = conversation.updatedAt, updated + Self.secondRounding > newest else { break }
            let refs = try await graph.conversationMessageRefs(conversation.id)
                .filter { ($0.createdAt ?? 0) + Self.secondRounding > newest }
            guard !refs.isEmpty else { continue }
            let known = try await store.knownMessageIds(refs.map(\.id))
            count += refs.count - known.count
        }
        return count
    }

    /// A Graph refusal in words that say what to do.
    static func explain(_ error: GraphError) -> String {
        if error.isTokenInvalid { return "Instagram refused the access token (190): renew INSTAGRAM_ACCESS_TOKEN and sync again" }
        if error.kind == .meta, let code = error.code, [4, 17, 32, 613].contains(code) {
            return "Instagram's rate limit was reached (code \(code)); sync again later"
        }
        return "the Conversations API failed: \(error)"
    }
}
