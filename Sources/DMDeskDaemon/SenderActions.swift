import DMDeskCore
import DMDeskGraph
import Logging
import Synchronization

/// Typing indicators and seen receipts: best effort. Each is one Graph call with a short timeout, never an outbox
/// row, never retried; a failure is logged and forgotten. A reply to the same customer waits for a typing
/// indicator already under way (at most `replyWaitsAtMost`) so the customer sees the indicator before the text,
/// but a failed one ends at once and delays nothing.
public final class SenderActions: Sendable {
    /// A call that takes longer is given up (Meta answers these in milliseconds).
    static let callTimeout: Duration = .seconds(3)
    /// How long a reply waits for its recipient's indicator still under way.
    static let replyWaitsAtMost: Duration = .seconds(1)

    private let graph: GraphClient
    private let logger: Logger
    private let enabled: Bool
    private let tasks = TrackedTasks()
    /// Recipients → sender actions under way for them.
    private let underWay = Mutex<[String: Int]>([:])
    private let counters = Mutex(Counts())

    public struct Counts: Sendable, Equatable {
        public var sent = 0
        public var failed = 0
        public init(sent: Int = 0, failed: Int = 0) {
            self.sent = sent
            self.failed = failed
        }
    }

    /// Sent and failed calls, for tests and the logs.
    public var counts: Counts { counters.withLock { $0 } }

    /// Calls running now (none once `shutdown` has returned).
    public var running: Int { tasks.count }

    /// `enabled`: false without an Instagram token (there is nobody to tell).
    init(graph: GraphClient, enabled: Bool, logger: Logger) {
        self.graph = graph
        self.enabled = enabled
        self.logger = logger
    }

    /// Starts `action` for `recipient` and returns at once.
    func send(_ action: SenderAction, to recipient: String) {
        guard enabled, !recipient.isEmpty else { return }
        underWay.withLock { $0[recipient, default: 0] += 1 }
        let started = tasks.start { [self] in
            defer { finished(recipient) }
            do {
                try await graph.senderAction(action, recipient: recipient, timeout: Self.callTimeout)
                counters.withLock { $0.sent += 1 }
            } catch {
                counters.withLock { $0.failed += 1 }
                logger.notice(
                    "sender action failed; the reply goes on without it",
                    metadata: ["action": "\(action.rawValue)", "recipient": "\(recipient)", "error": "\(error)"])
            }
        }
        if !started { finished(recipient) }
    }

    private func finished(_ recipient: String) {
        underWay.withLock { map in
            let left = (map[recipient] ?? 1) - 1
            map[recipient] = left > 0 ? left : nil
        }
    }

    /// Before a message to `recipient`: waits (briefly) for its sender actions under way.
    func settle(_ recipient: String) async {
        guard underWay.withLock({ $0[recipient] != nil }) else { return }
        _ = await poll(within: Self.replyWaitsAtMost, every: .milliseconds(2)) { underWay.withLock { $0[recipient] == nil } }
    }

    /// Starts no more; the calls under way get `grace`, then are cancelled and awaited.
    func shutdown(grace: Duration) async {
        await tasks.shutdown(grace: grace)
    }
}
