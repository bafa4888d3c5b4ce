import DMDeskCore
import DMDeskStore
import Logging
import ServiceLifecycle
import Synchronization

/// Ends snoozes when their time comes: at start-up (catching up those that came due while the daemon was down),
/// then at the earliest one set, re-armed whenever a snooze is set or changed (`rearm`). With a fake clock
/// (`DMDESK_CLOCK_FILE`, for tests) there is no time to sleep until, so it looks every 100 ms instead.
final class SnoozeWaker: Sendable {
    private let store: any InboxStore
    private let fanOut: FanOut
    let clock: SnoozeClock
    private let logger: Logger
    /// The sleep in progress (cancelled to re-arm), and a re-arm that came while none was.
    private let sleeping = Mutex<(sleep: Task<Void, Never>?, rearmed: Bool)>((nil, false))
    /// The longest sleep: a clock change (NTP, a suspended VM) is noticed within it.
    static let maxSleep: Duration = .seconds(60)

    init(store: any InboxStore, fanOut: FanOut, clock: SnoozeClock, logger: Logger) {
        self.store = store
        self.fanOut = fanOut
        self.clock = clock
        self.logger = logger
    }

    /// A snooze was set, changed or cancelled: the next wake-up time is worked out again.
    func rearm() {
        let sleep = sleeping.withLock { state -> Task<Void, Never>? in
            state.rearmed = true
            return state.sleep
        }
        sleep?.cancel()
    }

    /// Ends every snooze due now; returns how many.
    @discardableResult
    func wakeDue() async -> Int {
        do {
            let woken = try await store.wakeSnoozed(dueBy: clock.now())
            if !woken.isEmpty {
                fanOut.publish(woken.map(\.1))
                logger.info("snoozes ended", metadata: ["threads": "\(woken.map(\.0.id).joined(separator: ","))"])
            }
            return woken.count
        } catch {
            logger.warning("could not end due snoozes; trying again", metadata: ["error": "\(error)"])
            return 0
        }
    }

    /// Until cancelled (the shutdown).
    func run() async {
        while !Task.isCancelled {
            sleeping.withLock { $0.rearmed = false }
            await wakeDue()
            let pause: Duration
            if clock.isFake {
                pause = .milliseconds(100)
            } else if let next = try? await store.nextSnoozeEnd() {
                pause = min(Self.maxSleep, .milliseconds(max(0, next - clock.now())))
            } else {
                pause = Self.maxSleep
            }
            // Whichever comes first: the time, or a new snooze (`rearm` cancels the sleep).
            let sleep = Task { _ = try? await Task.sleep(for: pause) }
            let rearmedMeanwhile = sleeping.withLock { state -> Bool in
                state.sleep = sleep
                return state.rearmed
            }
            if rearmedMeanwhile { sleep.cancel() }
            await withTaskCancellationHandler { await sleep.value } onCancel: { sleep.cancel() }
            sleeping.withLock { $0.sleep = nil }
        }
    }
}

struct SnoozeService: Service {
    let waker: SnoozeWaker

    func run() async throws {
        await cancelWhenGracefulShutdown { await waker.run() }
    }
}
