import DMDeskCore

/// "Is there anything left for the processor to do?" — so a test can wait for that instead of sleeping and hoping,
/// and then assert what did *not* happen: whatever was going to happen before idle has happened by then.
extension Processor {
    /// One look at the processor, taken under its lock (`idleState`).
    public struct IdleState: Sendable, Equatable, CustomStringConvertible {
        /// When the look was taken (ms since the epoch): `earliestDue` is compared with it.
        public var takenAt: EpochMillis
        /// Its loop runs (started, not stopping). Before that, "nothing to do" means nothing.
        public var running: Bool
        /// Threads waiting for their debounce window or retry time, and the earliest of those times.
        public var scheduled: Int
        public var earliestDue: EpochMillis?
        /// A tick (claim, plan, complete) is under way.
        public var tickInFlight: Bool
        /// Ticks begun so far: two looks with the same count saw no tick run between them.
        public var ticks: Int
        /// Batches the agent is answering.
        public var agentRuns: Int
        /// Send results wait for the loop to record them.
        public var outboxResultsWaiting: Bool

        /// Nothing to do: running, no tick, no agent run, no outbox results waiting, and no thread due — or, with
        /// `horizon`, none due within `horizon` of this look (a retry or debounce far off is not "about to happen").
        public func isIdle(ignoringDueAfter horizon: Duration? = nil) -> Bool {
            guard running, !tickInFlight, agentRuns == 0, !outboxResultsWaiting else { return false }
            guard let earliestDue else { return true }
            guard let horizon else { return false }
            return earliestDue > takenAt + EpochMillis(horizon.milliseconds)
        }

        public var description: String {
            "running \(running), scheduled \(scheduled) (earliest in \(earliestDue.map { "\($0 - takenAt) ms" } ?? "-")), "
                + "tick in flight \(tickInFlight), ticks \(ticks), agent runs \(agentRuns), outbox results waiting \(outboxResultsWaiting)"
        }
    }

    /// Returns the first look that is idle (see `IdleState.isIdle`); throws `IdleTimeout` with the last look when
    /// `timeout` passes first. Polls in short sleeps: it never blocks a thread of the cooperative pool.
    @discardableResult
    public func waitUntilIdle(timeout: Duration = .seconds(20), ignoringDueAfter horizon: Duration? = nil) async throws
        -> IdleState
    {
        try await pollUntilIdle(what: "the processor", timeout: timeout) { [self] in
            let state = idleState
            return (state.isIdle(ignoringDueAfter: horizon), state)
        }
    }
}

/// A wait for idle that timed out: what was still going on.
public struct IdleTimeout: Error, CustomStringConvertible {
    public var what: String
    public var timeout: Duration
    public var last: String
    public var description: String { "\(what) was not idle within \(timeout): \(last)" }
}

/// Looks every few milliseconds until `look` says idle (returns that look) or `timeout` passes (throws
/// `IdleTimeout`); looks at least once. Cancellation ends it with `CancellationError`.
func pollUntilIdle<State: CustomStringConvertible>(
    what: String, timeout: Duration, _ look: () -> (idle: Bool, state: State)
) async throws -> State {
    var last: (idle: Bool, state: State)?
    if await poll(within: timeout, { last = look(); return last!.idle }) { return last!.state }
    try Task.checkCancellation()
    throw IdleTimeout(what: what, timeout: timeout, last: last!.state.description)
}
