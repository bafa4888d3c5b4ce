import DMDeskCore
import DMDeskStore
import Foundation
import Logging
import ServiceLifecycle

/// Webhook health (`WebhookHealth`): restores the last webhook's time at start-up, writes it to the store when it
/// moves (at most every `persistEvery`, and once more at shutdown, after the listener has stopped), asks the
/// Conversations API whether messages are missing once the webhooks have been silent for `DMDESK_WEBHOOK_SILENCE`,
/// and tells consoles (a `daemon.status` event) when the verdict changes (never, ok, silent, failing). The age itself is not
/// announced (an event a minute would fill the journal): consoles ask `status` once a minute.
struct WebhookHealthService: Service {
    let webhooks: WebhookHealth
    let store: any InboxStore
    let sync: ConversationSync
    let health: HealthReporter
    let logger: Logger

    /// How often it looks (real time).
    static let tick: Duration = .seconds(1)
    /// A busy listener writes the time at most this often (a restart loses at most this much of it).
    static let persistEvery: Duration = .seconds(30)
    /// While silent, Meta is asked again after this long (daemon clock), or after the silence if shorter.
    static let recheckMillis: EpochMillis = 10 * 60_000

    func run() async throws {
        webhooks.restore(try? await store.lastWebhookAt())
        await cancelWhenGracefulShutdown { await watch() }
        await persist()
    }

    private func persist() async {
        guard let time = webhooks.unpersisted else { return }
        do {
            try await store.recordLastWebhook(at: time)
            webhooks.persisted(time)
        } catch {
            logger.warning("could not record the last webhook's time", metadata: ["error": "\(error)"])
        }
    }

    private func watch() async {
        var lastWrite: ContinuousClock.Instant? = nil
        var announced = webhooks.report()
        let recheck = min(Self.recheckMillis, webhooks.silence.milliseconds)
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.tick)
            if Task.isCancelled { break }
            if webhooks.unpersisted != nil, lastWrite.map({ $0.duration(to: .now) >= Self.persistEvery }) ?? true {
                await persist()
                lastWrite = .now
            }
            let now = webhooks.clock()
            if webhooks.isSilent(now: now), sync.configured, webhooks.lastCheckAt.map({ now - $0 >= recheck }) ?? true {
                do {
                    webhooks.checked(at: now, newer: try await sync.newerUnknownMessages())
                } catch {
                    logger.warning("webhook silence check failed", metadata: ["error": "\(error)"])
                    webhooks.checkFailed(at: now, "\(error)")
                }
                if let reason = webhooks.report().reason { logger.warning("\(reason)") }
            }
            // Every change of verdict (the first webhook, a silence beginning or ending, failing): rare, and without
            // it a console attached before the first webhook would say "no webhook yet" until its next status poll.
            let report = webhooks.report()
            if report.verdict != announced.verdict {
                if await health.publishStatus() { announced = report }
            }
        }
    }
}

/// `DMDESK_SYNC_EVERY`: a sync at start-up (what arrived while the daemon was down and Meta gave up retrying),
/// then one every period, each covering twice the period (at least an hour) back.
struct SyncService: Service {
    let sync: ConversationSync
    let every: RetentionPeriod
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // Meta's times are real times: the window is judged by the real clock.
                let since = nowMillis() - max(2 * every.milliseconds, 3_600_000)
                do { _ = try await sync.run(since: since) } catch {
                    if !Task.isCancelled { logger.warning("periodic sync failed", metadata: ["error": "\(error)"]) }
                }
                try? await Task.sleep(for: every.duration)
            }
        }
    }
}
