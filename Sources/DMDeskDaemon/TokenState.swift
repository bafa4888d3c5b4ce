import DMDeskCore
import Synchronization

/// The Instagram token's health: Meta answered code 190 (sends fail until someone fixes the token; /health, the
/// console's banner and one manager message say so), and what refreshes have learnt (source, expiry, last check).
final class TokenState: Sendable {
    struct Facts: Sendable, Equatable {
        var invalidReason: String?
        var source: String?
        var expiresAt: EpochMillis?
        var refreshedAt: EpochMillis?
        var nextRefreshAt: EpochMillis?
        var lastCheckAt: EpochMillis?
        var lastCheck: String?
    }

    private let facts: Mutex<Facts>
    /// Yields each time the token turns invalid or valid again: the status watch publishes a `daemon.status` event
    /// for it, and tells the manager once when it turned invalid.
    let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    init(source: String?) {
        facts = Mutex(Facts(source: source))
        (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var invalidReason: String? { facts.withLock { $0.invalidReason } }
    var snapshot: Facts { facts.withLock { $0 } }

    /// Records Meta's 190; true when this turned a valid token invalid (so that only the first failing call alerts).
    @discardableResult
    func markInvalid(_ why: String, at now: EpochMillis = nowMillis()) -> Bool {
        let turnedInvalid = facts.withLock { f -> Bool in
            defer {
                f.invalidReason = why
                f.lastCheckAt = now
                f.lastCheck = "refused: " + why
            }
            return f.invalidReason == nil
        }
        if turnedInvalid { changed.yield() }
        return turnedInvalid
    }

    /// A call Meta accepted: the token works (again).
    func clear() {
        let wasInvalid = facts.withLock { f -> Bool in
            defer { f.invalidReason = nil }
            return f.invalidReason != nil
        }
        if wasInvalid { changed.yield() }
    }

    func update(_ change: (inout Facts) -> Void) { facts.withLock { change(&$0) } }

    func report(configured: Bool, refresh: TokenRefreshMode) -> TokenReport {
        let f = snapshot
        return TokenReport(
            status: !configured ? "missing" : (f.invalidReason == nil ? "ok" : "invalid"),
            source: configured ? f.source : nil, refresh: refresh.rawValue, expiresAt: f.expiresAt,
            refreshedAt: f.refreshedAt, nextRefreshAt: refresh == .auto ? f.nextRefreshAt : nil,
            lastCheckAt: f.lastCheckAt, lastCheck: f.lastCheck, error: f.invalidReason)
    }
}
