/// How often and how patiently a Graph call is retried: exponential backoff (1 s, 2 s, 4 s …) with jitter,
/// capped, and never sooner than Meta's `Retry-After` asks.
public struct RetryPolicy: Sendable, Equatable {
    /// Total tries, the first one included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// ± fraction of the backoff added at random, so many threads failing together don't retry in lockstep.
    public var jitter: Double

    public init(
        maxAttempts: Int = 3, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(10),
        jitter: Double = 0.2
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.jitter = min(max(jitter, 0), 1)
    }

    public static let `default` = RetryPolicy()

    /// Same number of attempts, millisecond delays: for tests and the demo.
    public static let immediate = RetryPolicy(
        maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(5), jitter: 0)

    /// The pause after failed attempt `n` (1-based): `baseDelay × 2^(n-1)` ± jitter, at least `retryAfter`
    /// seconds when Meta sent one, and never more than `maxDelay`.
    public func delay(afterAttempt n: Int, retryAfter: Double?) -> Duration {
        let base = baseDelay.seconds
        let cap = maxDelay.seconds
        let exponent = Double(min(max(n - 1, 0), 30))  // 2^30 s is already past any sane cap
        var seconds = min(base * Double(1 << Int(exponent)), cap)
        if jitter > 0 {
            seconds *= 1 + Double.random(in: -jitter...jitter)
        }
        if let retryAfter, retryAfter.isFinite, retryAfter > 0 {
            seconds = max(seconds, retryAfter)
        }
        seconds = min(max(seconds, 0), cap)
        return .nanoseconds(Int64((seconds * 1_000_000_000).rounded()))
    }
}

/// Runs `operation` up to `policy.maxAttempts` times while its error is retryable, sleeping `policy.delay`
/// between tries. `onFailedAttempt` hears about every failure (attempt number, error), the last one included,
/// so the outbox can record attempts. Cancellation stops the waiting and rethrows the last error.
public func withGraphRetries<T: Sendable>(
    _ policy: RetryPolicy,
    onFailedAttempt: @Sendable (Int, GraphError) -> Void = { _, _ in },
    _ operation: @Sendable () async throws(GraphError) -> T
) async throws(GraphError) -> T {
    var attempt = 1
    while true {
        do {
            return try await operation()
        } catch let failure {
            onFailedAttempt(attempt, failure)
            guard failure.isRetryable, attempt < policy.maxAttempts, !Task.isCancelled else { throw failure }
            do {
                try await Task.sleep(for: policy.delay(afterAttempt: attempt, retryAfter: failure.retryAfter))
            } catch {
                throw failure  // cancelled while waiting: report what actually went wrong
            }
            attempt += 1
        }
    }
}
