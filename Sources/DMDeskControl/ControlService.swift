import DMDeskCore

/// What the control socket needs from the daemon. The server owns framing, ordering, subscriptions
/// and slow-client handling; the service owns meaning.
public protocol ControlService: Sendable {
    /// The first line every accepted client receives.
    func helloLine() -> ServerLine
    /// Answers one request. Never called for `subscribe`, which the server handles itself.
    func handle(_ request: ControlRequest) async -> Result<JSONValue, ControlError>
    /// A read-only request answered right on the client's reader thread (a thread of its own, so it may block), or
    /// nil for `handle`: a search waits for no task to be scheduled, which is most of its time on a busy machine.
    /// That client's next request waits for it; other clients do not.
    func answerOnReaderThread(_ request: ControlRequest) -> Result<JSONValue, ControlError>?
    /// Journal rows with `seq > after`, ascending, at most `limit` of them (replay for `subscribe since`).
    func journal(after seq: Int64, limit: Int) throws -> [JournalEvent]
    /// What the journal still holds, to tell whether `subscribe since` can resume; nil when unknown (no check).
    func journalBounds() throws -> JournalBounds?
}

extension ControlService {
    public func journalBounds() throws -> JournalBounds? { nil }
    public func answerOnReaderThread(_ request: ControlRequest) -> Result<JSONValue, ControlError>? { nil }
}
