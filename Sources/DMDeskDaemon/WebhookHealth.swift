import DMDeskCore
import DMDeskStore
import Foundation
import Logging
import Synchronization

/// What /health, `status` and the console's status bar say about Meta's webhooks.
public struct WebhookHealthReport: Sendable, Equatable {
    public enum Verdict: String, Sendable {
        /// A webhook within `DMDESK_WEBHOOK_SILENCE`.
        case ok
        /// None ever accepted, and the daemon has not been up for the silence yet.
        case never
        /// Quiet past the silence, and Meta shows nothing newer than what is stored (or has not been asked yet): a
        /// quiet shop, not a fault.
        case silent
        /// Quiet past the silence while Meta's Conversations API has messages the store lacks: degraded.
        case failing
    }

    public var lastAt: EpochMillis?
    public var verdict: Verdict
    /// Why, when failing.
    public var reason: String?
    /// The last look at the Conversations API (daemon clock), and what went wrong with it.
    public var lastCheckAt: EpochMillis?
    public var checkError: String?
    public var silenceSeconds: Int64
    public var now: EpochMillis

    public var ageSeconds: Int64? { lastAt.map { max(0, (now - $0) / 1000) } }
}

/// Remembers when the last signed webhook delivery was accepted (in memory at once; in the store by
/// `WebhookHealthService`, so a restart does not reset it to "never") and what the last silence check found.
///
/// Why a `daemon_state` row rather than the newest stored inbound message: a delivery of reads, reactions or
/// echoes proves webhooks arrive as well as a message does, synced messages must not count as deliveries, and
/// message retention may delete the newest message.
final class WebhookHealth: Sendable {
    struct State {
        var lastAt: EpochMillis?
        var persisted: EpochMillis?
        var failing: String?
        var lastCheckAt: EpochMillis?
        var checkError: String?
    }

    let silence: RetentionPeriod
    let clock: @Sendable () -> EpochMillis
    /// When this run started (daemon clock): with no webhook ever, the silence counts from here.
    let startedAt: EpochMillis
    private let state = Mutex(State())

    init(silence: RetentionPeriod, clock: @escaping @Sendable () -> EpochMillis) {
        self.silence = silence
        self.clock = clock
        startedAt = clock()
    }

    /// A signed delivery was answered 200. Called on the listener's request path: a lock, no I/O.
    func received() {
        let now = clock()
        state.withLock { s in
            s.lastAt = max(s.lastAt ?? now, now)
            s.failing = nil
        }
    }

    /// What the store remembers from earlier runs (never newer than what this run saw).
    func restore(_ time: EpochMillis?) {
        guard let time else { return }
        state.withLock { s in
            s.lastAt = max(s.lastAt ?? time, time)
            s.persisted = max(s.persisted ?? time, time)
        }
    }

    /// The time to write to the store, if it moved since the last write.
    var unpersisted: EpochMillis? {
        state.withLock { s in
            guard let last = s.lastAt, last != s.persisted else { return nil }
            return last
        }
    }

    func persisted(_ time: EpochMillis) { state.withLock { $0.persisted = max($0.persisted ?? time, time) } }

    /// Silent past `DMDESK_WEBHOOK_SILENCE` (counted from this run's start when none ever came), at `now`.
    func isSilent(now: EpochMillis) -> Bool {
        let since = state.withLock { $0.lastAt } ?? startedAt
        return now - since >= silence.milliseconds
    }

    /// The result of a look at the Conversations API: `newer` messages the store lacks.
    func checked(at now: EpochMillis, newer: Int) {
        state.withLock { s in
            s.lastCheckAt = now
            s.checkError = nil
            guard newer > 0 else {
                s.failing = nil
                return
            }
            let quiet = Self.words(seconds: (now - (s.lastAt ?? startedAt)) / 1000)
            let what = s.lastAt == nil ? "no webhook has arrived in \(quiet)" : "no webhook for \(quiet)"
            s.failing =
                "webhooks may be failing: \(what), while Instagram shows \(newer) newer message\(newer == 1 ? "" : "s") dmdesk never received (check the app's webhook subscription; `dmdesk sync` fetches them)"
        }
    }

    func checkFailed(at now: EpochMillis, _ error: String) {
        state.withLock { s in
            s.lastCheckAt = now
            s.checkError = error
        }
    }

    var lastCheckAt: EpochMillis? { state.withLock { $0.lastCheckAt } }

    func report() -> WebhookHealthReport {
        let now = clock()
        let s = state.withLock { $0 }
        let silent = now - (s.lastAt ?? startedAt) >= silence.milliseconds
        let verdict: WebhookHealthReport.Verdict
        if !silent {
            verdict = s.lastAt == nil ? .never : .ok
        } else {
            verdict = s.failing == nil ? .silent : .failing
        }
        return WebhookHealthReport(
            lastAt: s.lastAt, verdict: verdict, reason: verdict == .failing ? s.failing : nil, lastCheckAt: s.lastCheckAt,
            checkError: s.checkError, silenceSeconds: silence.seconds, now: now)
    }

    /// "3 min", "7 h", "2 days": how long, in words.
    static func words(seconds: Int64) -> String {
        switch seconds {
        case ..<60: return "\(max(0, seconds)) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<(2 * 86400): return "\(seconds / 3600) h"
        default: return "\(seconds / 86400) days"
        }
    }
}
