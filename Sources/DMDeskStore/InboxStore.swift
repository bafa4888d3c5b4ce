import DMDeskCore
import Foundation

/// The store's surface: everything the daemon, the agent and the command-line tools ask of the durable record, for
/// any engine (`SQLiteStore` today). No engine type appears in it.
///
/// Every method is `async` and never blocks a cooperative-pool thread: an engine runs the work on its own threads
/// or event loops. A write is atomic: it commits whole or not at all. Batched operations stay batched — a batch is
/// handed over in one call, the engine commits it as it sees fit (SQLite: one transaction, a savepoint per item;
/// group commit), and answers per item, in order: an item's own failure fails it alone, a failure of the storage
/// itself (a full disk, an I/O error) fails every item and commits nothing. Every write reports its outcome to
/// `writeHealth`, by kind.
///
/// Errors: `StoreError` for what the caller asked (no such thread, a row in the wrong state); engine errors for
/// storage failures; typed results (`VerificationFailure`) where the caller answers each case differently.
public protocol InboxStore: AnyObject, Sendable {
    // MARK: Ingest

    /// Stores many deliveries at once, answering per delivery in order. An inbound message is stored once per `mid`
    /// (a redelivery stores and journals nothing); an event the store refuses for its content is journaled raw as
    /// `webhook.invalid` and the rest of its delivery goes on; a storage failure fails the whole delivery.
    func ingest(_ deliveries: [[WebhookEvent]], options: IngestOptions) async -> [Result<IngestOutcome, any Error>]

    // MARK: Journal

    /// Journal rows with `seq > after`, ascending, at most `limit` (what a console resuming from a seq missed).
    func journal(after seq: Int64, limit: Int) async throws -> [JournalEvent]
    /// The newest `seq` in the journal (0 when empty).
    func lastSeq() async throws -> Int64
    /// Appends one event (e.g. `daemon.status`) to the journal and returns it with its `seq`.
    func appendEvent(type: String, thread: String?, data: JSONValue) async throws -> JournalEvent
    /// What the journal still holds (its oldest seq kept, the newest ever given): whether `since` can resume.
    func journalBounds() async throws -> JournalBounds

    // MARK: Retention and backups

    /// Deletes the journal's oldest events written before `cutoff`, at most `batchSize` of them, in one short
    /// write; never the newest event, never one after an event it keeps. Returns how many went (0: done).
    func pruneJournal(before cutoff: EpochMillis, batchSize: Int) async throws -> Int
    /// Up to `limit` threads whose last message is older than `cutoff` with nothing in flight, oldest first.
    func expiredConversations(lastMessageBefore cutoff: EpochMillis, limit: Int) async throws -> [String]
    /// Deletes those of `threads` still expired from every table, journaling `thread.deleted` each, in one write.
    func deleteConversations(_ threads: [String], lastMessageBefore cutoff: EpochMillis) async throws -> DeletedConversations
    /// A consistent copy of the whole store at `destination` (a new file), checked by opening it; writers go on.
    func backup(to destination: String) async throws -> BackupReport
    /// The size of the store on disk, in bytes.
    func databaseBytes() -> Int64

    // MARK: Threads, messages, profiles

    /// One thread's summary, or nil.
    func thread(_ id: String) async throws -> ThreadSummary?
    /// Thread summaries, newest activity first, filtered.
    func threads(_ filter: ThreadFilter) async throws -> [ThreadSummary]
    /// Changes a thread's columns and journals `thread.updated`, in one transaction; no change, no event.
    /// Throws `StoreError.notFound` for an unknown thread.
    func updateThread(_ id: String, _ change: @escaping @Sendable (inout ThreadRecord) -> Void) async throws
        -> (ThreadSummary, JournalEvent?)
    /// Snoozes whose time is at or before `now` end: each thread opens again, marked as back from a snooze
    /// (`snoozeEndedAt`), with its `thread.updated` journaled. (The customer writing ends a snooze in ingest.)
    func wakeSnoozed(dueBy now: EpochMillis) async throws -> [(ThreadSummary, JournalEvent)]
    /// The earliest time a snooze ends, or nil when none is set for a time.
    func nextSnoozeEnd() async throws -> EpochMillis?
    /// The latest `limit` lines of a thread (optionally only those before `before`), oldest first.
    func history(thread: String, before: EpochMillis?, limit: Int) async throws -> [MessageView]
    /// One stored message by its `mid` (ours are `out:<outbox id>`), or nil.
    func message(mid: String) async throws -> MessageRecord?
    /// Messages whose text has every word of `query.text` (the last as a prefix), newest first.
    func search(_ query: MessageSearch) async throws -> [SearchHit]
    /// Removes from the search index's storage the words of messages edited, unsent or deleted since the last call
    /// (the index stops finding them at once; their bytes go here). True when there was something to remove.
    func purgeRemovedFromSearch() async throws -> Bool
    /// Those of `ids` whose Instagram profile has not been fetched yet.
    func profilesToFetch(_ ids: [String]) async throws -> [String]
    /// Stores fetched profiles (each alone, one commit) and journals each thread's `thread.updated`; answers per
    /// profile in order (nil: no such thread).
    func saveProfiles(_ profiles: [ProfileUpdate]) async -> [Result<JournalEvent?, any Error>]

    // MARK: Replies

    /// Start-up: every `processing` message (a batch in flight when the daemon stopped) goes back to `pending`.
    /// Returns how many.
    func resetProcessing() async throws -> Int
    /// Threads with pending messages, each with the earliest time one may be claimed (nil: now).
    func threadsWithPending() async throws -> [(thread: String, dueAt: EpochMillis?)]
    /// One processor tick in one transaction: records the outbox's send results (`finishing`) and marks its rows in
    /// flight (`marking`), each alone; claims every due pending message of `threads` (→ `processing`, one batch per
    /// thread); asks `plan` — pure computation, called inside the transaction — what to do with each batch, and
    /// applies each plan alone (`completeBatches`). A batch whose planning or completion failed stays `processing`,
    /// for `failBatch`. A storage failure throws: nothing of the tick is committed, not even the claim.
    func claimAndComplete(
        threads: [String], now: EpochMillis, finishing sends: [OutboundResult], marking marks: [Int64],
        plan: @escaping @Sendable (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) async throws -> ReplyTick
    /// Applies plans, each alone, one commit: queues the replies (committed `sending`: handed to this process's
    /// outbox and no one else), creates the verification token, switches modes and marks the batch `processed` —
    /// together, so a batch is never answered twice. A thread taken over since the plan was made gets nothing sent.
    func completeBatches(_ plans: [BatchPlan], now: EpochMillis) async -> [Result<BatchCompletion, any Error>]
    /// A batch that could not be answered: its `processing` messages go back to `pending` with one more attempt and
    /// a backoff (base, doubling, at most 60 s), or become `failed` (journaled) after `maxAttempts`.
    func failBatch(
        thread: String, mids: [String], error: String, now: EpochMillis, maxAttempts: Int, backoffBaseMillis: EpochMillis
    ) async throws -> BatchFailure
    /// Claimed (`processing`) messages go back to `pending`, to be answered in a batch of their own. Returns how many.
    func releaseToPending(mids: [String]) async throws -> Int
    /// Inbound messages by processing status.
    func processingCounts() async throws -> [ProcessingStatus: Int]

    // MARK: Agent steps

    /// Stores one agent step and journals it as `agent.step`, in one transaction (long texts are cut).
    func recordAgentStep(_ draft: AgentStepDraft, thread: String, batch: String, now: EpochMillis) async throws
        -> (AgentStepView, JournalEvent)
    /// The latest `limit` agent steps of a thread (optionally only before `before`), oldest first.
    func agentSteps(thread: String, before: EpochMillis?, limit: Int) async throws -> [AgentStepView]
    /// For a batch whose agent run was cut short: the message ids that run answered if it had already acted (a
    /// successful acting tool, `StorePolicy.actingTools`), else nil — answer it afresh.
    func agentAnsweredMessages(thread: String, batch: String) async throws -> [String]?

    // MARK: Outbox

    /// Queues drafts as `pending` outbox rows, in order, in one transaction — each DM with its line in the
    /// conversation — and journals them. `takeOver`: each draft's thread goes to a person first (human mode, not
    /// awaiting one), so the bot does not answer over an operator; reported as an operator command then.
    func enqueue(_ drafts: [OutboundDraft], takeOver: Bool) async throws -> [OutboxChange]
    /// One outbox row, or nil.
    func outbound(id: Int64) async throws -> OutboundRecord?
    /// A thread's outbox rows, oldest first.
    func outbound(thread: String) async throws -> [OutboundRecord]
    /// The status and attempt count of each of these rows (absent: no such row), in one read.
    func outboundStatuses(_ ids: [Int64]) async throws -> [Int64: (status: OutboundRecord.Status, attempts: Int)]
    /// Rows still to send, oldest first: what start-up resumes.
    func pendingOutbound() async throws -> [OutboundRecord]
    /// Rows left `sending` by a previous run, oldest first: each may or may not have reached Meta.
    func inDoubtOutbound() async throws -> [OutboundRecord]
    /// Marks pending rows `sending` with the time, each alone, one commit: `.marked` rows may be sent, any other
    /// (already sent, failed, in flight, missing) must not be.
    func markSending(_ ids: [Int64], now: EpochMillis) async -> [Result<SendingMark, any Error>]
    /// Records send attempts' results, each alone, one commit; a row's conversation line follows its status. A row
    /// already `sent` is never downgraded: a late result changes nothing and journals nothing.
    func finishOutbound(_ results: [OutboundResult]) async -> [Result<OutboxChange, any Error>]
    /// Proof that an in-flight (or failed) row reached Meta: it becomes `sent` with Meta's id. Nil when the row is
    /// neither `sending` nor `failed`.
    func provenSent(id: Int64, remoteId: String) async throws -> OutboxChange?
    /// Before an in-doubt row is sent again: if still `sending`, its sending time becomes `now` (a later echo is
    /// matched against this attempt). Nil: it is no longer in doubt.
    func renewSending(_ id: Int64, now: EpochMillis) async throws -> OutboundRecord?
    /// Puts a failed row back in the queue (`pending`). Throws `StoreError` for a missing row or one not failed.
    func retryOutbound(id: Int64) async throws -> OutboxChange
    /// Which of these Instagram message ids are already ours (an outbox row's remote id or a stored message).
    func knownMessageIds(_ ids: [String]) async throws -> Set<String>
    /// Outbox rows by status.
    func outboxCounts() async throws -> [OutboundRecord.Status: Int]

    // MARK: Comments (Comments.swift)

    /// One stored comment with its replies' states, or nil.
    func comment(id: String) async throws -> CommentView?
    /// Stored comments, newest first, filtered.
    func comments(_ filter: CommentFilter) async throws -> [CommentView]
    /// Queues a private (`publicly` false) or public reply to a comment as a pending outbox row, in one transaction
    /// with the comment's new state (journaled `comment.updated`); refused, with nothing queued, when Meta's limits
    /// would refuse it: a second private reply, a private reply more than 7 days after the comment.
    func queueCommentReply(commentId: String, text: String, publicly: Bool, author: MessageAuthor, now: EpochMillis)
        async throws -> Result<OutboxChange, CommentReplyRefusal>

    // MARK: Rules

    /// Every rule (or only the active ones), in priority order.
    func rules(includeInactive: Bool) async throws -> [RuleRecord]
    /// Checks (throws `RuleError`) and stores a rule; returns it with its id.
    func addRule(_ rule: RuleRecord) async throws -> RuleRecord
    /// Removes a rule; returns whether one had that id.
    func removeRule(id: Int64) async throws -> Bool
    /// Adds the shop starter set, skipping patterns already there; returns the rules added.
    func seedRules() async throws -> [RuleRecord]

    // MARK: Verification tokens

    /// Stores a new token's hash for `igId`, created by `eventId`; the same event again gets the token it created
    /// (`created` false), whichever account that was for.
    func issueVerificationToken(hash: String, igId: String, eventId: String, now: EpochMillis) async throws
        -> (token: VerificationTokenRecord, created: Bool)
    /// Queues a verification link's DM for `igId`, with its token's hash stored first unless known; refused
    /// (nothing queued) when the known token is another account's, used or expired.
    func queueVerificationLink(hash: String, igId: String, draft: OutboundDraft, now: EpochMillis) async throws
        -> Result<OutboxChange, VerificationFailure>
    /// The token `eventId` created, or nil.
    func verificationToken(eventId: String) async throws -> VerificationTokenRecord?
    /// Every token of `igId`, oldest first.
    func verificationTokens(igId: String) async throws -> [VerificationTokenRecord]
    /// Consumes a token and marks the profile connected, in one transaction; any refusal changes nothing.
    func consumeVerification(token: String, igId: String, now: EpochMillis) async throws
        -> Result<VerificationResult, VerificationFailure>

    // MARK: Webhook health and sync (WebhookHealthStore.swift)

    /// When the last signed webhook delivery was accepted, as last recorded (nil: never).
    func lastWebhookAt() async throws -> EpochMillis?
    /// Records it (never moving it backwards).
    func recordLastWebhook(at time: EpochMillis) async throws
    /// The newest stored message's time, either direction (nil: none).
    func newestMessageAt() async throws -> EpochMillis?
    /// Stores what `dmdesk sync` found and the store lacks (by mid, our outbox's remote ids, echoes' remote mids),
    /// in one transaction: `processed` (never answered), `source = sync`, journaled.
    func insertSynced(_ messages: [SyncedMessage]) async throws -> SyncInsertOutcome

    // MARK: Health and lifecycle

    /// The outcome of the store's writes, by kind.
    var writeHealth: WriteHealth { get }
    /// Rows in the store.
    func counts() async throws -> StoreCounts
    /// The store's health now: a plain read, the last writes, the last integrity check, free space.
    func healthReport(minFreeBytes: UInt64) async -> StoreHealthReport
    /// Starts a periodic integrity check (the first now) on resources of its own; `healthReport` shows the last.
    func startIntegrityChecks(every interval: Duration)
    /// Stops them (waits for a check in progress).
    func stopIntegrityChecks()
    /// While the ingest writer runs: log maintenance off the writer (SQLite: WAL checkpoints on a thread of their
    /// own). Engines with nothing to do here do nothing.
    func startBackgroundCheckpoints()
    /// Stops it (waits briefly for a pass in progress).
    func stopBackgroundCheckpoints()
    /// Stops the background work and closes the store; nothing may use it afterwards.
    func close() async throws

    /// The same store for the daemon's own threads, blocking them instead of suspending.
    var blocking: any BlockingInboxStore { get }
}

/// The store calls made from threads of the daemon's own — the ingest writer (a dedicated thread so that group
/// commit never waits for a task to be scheduled), the reply processor's loop, the control socket's per-client
/// readers (journal replay, search) — and once at start-up. Each call blocks its thread until done. Never call these from
/// async code: a cooperative-pool thread blocked on the store can deadlock the store's own async completions, which
/// need that pool. Same guarantees as the `InboxStore` methods of the same names.
public protocol BlockingInboxStore: Sendable {
    func ingest(_ deliveries: [[WebhookEvent]], options: IngestOptions) -> [Result<IngestOutcome, any Error>]
    func claimAndComplete(
        threads: [String], now: EpochMillis, finishing sends: [OutboundResult], marking marks: [Int64],
        plan: @escaping @Sendable (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) throws -> ReplyTick
    func failBatch(
        thread: String, mids: [String], error: String, now: EpochMillis, maxAttempts: Int, backoffBaseMillis: EpochMillis
    ) throws -> BatchFailure
    func journal(after seq: Int64, limit: Int) throws -> [JournalEvent]
    func search(_ query: MessageSearch) throws -> [SearchHit]
    func lastSeq() throws -> Int64
    func journalBounds() throws -> JournalBounds
}

// MARK: - Conveniences (distinct signatures, so none can shadow a requirement)

extension InboxStore {
    public func ingest(_ deliveries: [[WebhookEvent]]) async -> [Result<IngestOutcome, any Error>] {
        await ingest(deliveries, options: IngestOptions())
    }

    /// One delivery: its outcome, or the error that kept it from being stored.
    public func ingest(_ events: [WebhookEvent], options: IngestOptions = IngestOptions()) async throws -> IngestOutcome {
        try await ingest([events], options: options)[0].get()
    }

    public func threads() async throws -> [ThreadSummary] { try await threads(ThreadFilter()) }

    public func history(thread: String, limit: Int = 200) async throws -> [MessageView] {
        try await history(thread: thread, before: nil, limit: limit)
    }

    public func claimAndComplete(
        threads: [String], plan: @escaping @Sendable (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) async throws -> ReplyTick {
        try await claimAndComplete(threads: threads, now: nowMillis(), finishing: [], marking: [], plan: plan)
    }

    public func completeBatches(_ plans: [BatchPlan]) async -> [Result<BatchCompletion, any Error>] {
        await completeBatches(plans, now: nowMillis())
    }

    public func failBatch(thread: String, mids: [String], error: String) async throws -> BatchFailure {
        try await failBatch(
            thread: thread, mids: mids, error: error, now: nowMillis(), maxAttempts: StorePolicy.maxProcessingAttempts,
            backoffBaseMillis: 1000)
    }

    public func recordAgentStep(_ draft: AgentStepDraft, thread: String, batch: String) async throws -> (AgentStepView, JournalEvent) {
        try await recordAgentStep(draft, thread: thread, batch: batch, now: nowMillis())
    }

    public func agentSteps(thread: String) async throws -> [AgentStepView] {
        try await agentSteps(thread: thread, before: nil, limit: 200)
    }

    /// One draft (see `enqueue(_:takeOver:)`).
    public func enqueue(_ draft: OutboundDraft, takeOver: Bool = false) async throws -> OutboxChange {
        try await enqueue([draft], takeOver: takeOver)[0]
    }

    public func markSending(_ ids: [Int64]) async -> [Result<SendingMark, any Error>] {
        await markSending(ids, now: nowMillis())
    }

    /// One attempt's result (see `finishOutbound(_:)`).
    public func finishOutbound(
        id: Int64, status: OutboundStatus, attempts: Int, remoteId: String? = nil, error: String? = nil
    ) async throws -> OutboxChange {
        try await finishOutbound([OutboundResult(id: id, status: status, attempts: attempts, remoteId: remoteId, error: error)])[0].get()
    }

    public func renewSending(_ id: Int64) async throws -> OutboundRecord? { try await renewSending(id, now: nowMillis()) }

    public func rules() async throws -> [RuleRecord] { try await rules(includeInactive: true) }

    public func issueVerificationToken(hash: String, igId: String, eventId: String) async throws
        -> (token: VerificationTokenRecord, created: Bool)
    {
        try await issueVerificationToken(hash: hash, igId: igId, eventId: eventId, now: nowMillis())
    }

    public func queueVerificationLink(hash: String, igId: String, draft: OutboundDraft) async throws
        -> Result<OutboxChange, VerificationFailure>
    {
        try await queueVerificationLink(hash: hash, igId: igId, draft: draft, now: nowMillis())
    }

    public func consumeVerification(token: String, igId: String) async throws -> Result<VerificationResult, VerificationFailure> {
        try await consumeVerification(token: token, igId: igId, now: nowMillis())
    }
}

extension BlockingInboxStore {
    public func claimAndComplete(
        threads: [String], finishing sends: [OutboundResult], marking marks: [Int64],
        plan: @escaping @Sendable (ClaimedBatch, RuleSet) throws -> BatchPlan
    ) throws -> ReplyTick {
        try claimAndComplete(threads: threads, now: nowMillis(), finishing: sends, marking: marks, plan: plan)
    }

    public func failBatch(thread: String, mids: [String], error: String, backoffBaseMillis: EpochMillis) throws -> BatchFailure {
        try failBatch(
            thread: thread, mids: mids, error: error, now: nowMillis(), maxAttempts: StorePolicy.maxProcessingAttempts,
            backoffBaseMillis: backoffBaseMillis)
    }
}

// MARK: - Shared types and rules

/// What every engine applies the same way.
public enum StorePolicy {
    /// A batch that could not be answered this many times is `failed` for good.
    public static let maxProcessingAttempts = 5
    /// How far the time Meta puts on an echo may precede the time we marked the row `sending` (our clock) and still
    /// be that row's echo: clock skew between the two machines, and Meta's whole-second `created_time`.
    public static let echoClockSkewMillis: EpochMillis = 5_000
    /// The agent's tools whose calls change something outside the store: after one, a batch is not answered again.
    public static let actingTools = ["send_message", "react", "notify_manager", "handover"]
    /// Long agent tool arguments and results are kept, but not without bound.
    public static let maxStepText = 4000
}

public enum StoreError: Error, CustomStringConvertible, Equatable {
    case dataDirectoryUnusable(path: String, reason: String)
    case cannotOpen(path: String, reason: String)
    case notFound(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .dataDirectoryUnusable(let path, let reason): return "data directory \(path) is not usable: \(reason)"
        case .cannotOpen(let path, let reason): return "cannot open database \(path): \(reason)"
        case .notFound(let what): return "\(what) not found"
        case .invalid(let why): return why
        }
    }
}

/// Which threads `threads(_:)` lists.
public struct ThreadFilter: Sendable {
    public var mode: ThreadMode?
    public var status: ThreadStatus?
    public var unreadOnly: Bool
    /// Matches the id, @username, name or last text (a substring, case-insensitive for ASCII).
    public var search: String?
    public var limit: Int
    public init(mode: ThreadMode? = nil, status: ThreadStatus? = nil, unreadOnly: Bool = false, search: String? = nil, limit: Int = 50_000) {
        (self.mode, self.status, self.unreadOnly, self.search, self.limit) = (mode, status, unreadOnly, search, limit)
    }
}

/// Rows in the store, for /health and the status bar.
public struct StoreCounts: Sendable, Codable, Equatable {
    public var threads: Int
    public var messages: Int
    /// Outbox rows not finished (`pending` or `sending`).
    public var pendingOutbound: Int
    /// The newest journal `seq`.
    public var events: Int64
}

/// A fetched Instagram profile, for `saveProfiles`.
public typealias ProfileUpdate = (id: String, username: String?, name: String?, picture: String?)

/// What marking a row in flight found.
public enum SendingMark: Sendable {
    /// The row was pending and is now `sending` (committed): send it.
    case marked(OutboundRecord)
    /// The row is not pending (already sent, failed, in flight elsewhere) or does not exist: do not send it.
    case notPending
}

/// What one processor tick (`claimAndComplete`) did: the claim, and for each claimed batch (in order) its plan and
/// completion — or why it could not be answered, in which case its messages are still `processing`, for `failBatch`.
public struct ReplyTick: Sendable {
    public struct Outcome: Sendable {
        public var batch: ClaimedBatch
        public var plan: BatchPlan?
        public var result: Result<BatchCompletion, any Error>
    }
    public var claim: ClaimResult
    public var outcomes: [Outcome]
    /// The send results recorded in the same transaction, in order.
    public var finished: [Result<OutboxChange, any Error>] = []
    /// The outbox rows marked `sending` in the same transaction, in order.
    public var marked: [Result<SendingMark, any Error>] = []
}
