/// "Is the outbox done?" — so a test can wait for that, then assert what was (and was not) sent.
extension OutboxWorker {
    /// One look at the worker (`idleState`).
    public struct IdleState: Sendable, Equatable, CustomStringConvertible {
        /// Recipients with a sender running or rows queued.
        public var recipients: Int
        /// Rows queued, being sent, or sent with their result not yet recorded.
        public var rows: Int

        /// No sender in flight, nothing queued, every result recorded.
        public var isIdle: Bool { recipients == 0 && rows == 0 }

        public var description: String { "recipients with a sender \(recipients), rows in flight \(rows)" }
    }

    /// Returns the first idle look; throws `IdleTimeout` with the last look when `timeout` passes first. Polls in
    /// short sleeps: it never blocks a thread of the cooperative pool.
    @discardableResult
    public func waitUntilIdle(timeout: Duration = .seconds(20)) async throws -> IdleState {
        try await pollUntilIdle(what: "the outbox", timeout: timeout) { [self] in
            let state = idleState
            return (state.isIdle, state)
        }
    }
}
