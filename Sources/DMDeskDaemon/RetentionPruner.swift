import DMDeskControl
import DMDeskCore
import DMDeskStore
import Logging

/// Retention, one pass at a time: the journal's events older than `DMDESK_JOURNAL_RETENTION` and, when
/// `DMDESK_MESSAGE_RETENTION` is set, whole conversations whose last message is older than that (SQLite and their
/// Redis context). Work goes in small batches, each its own short write with a pause after it, so the ingest
/// writer never waits behind more than one batch.
final class RetentionPruner: Sendable {
    static let journalBatch = 2000
    static let conversationBatch = 50
    static let pause: Duration = .milliseconds(20)

    struct Pass: Sendable, Equatable {
        var events = 0
        var conversations = 0
        /// Words of edited, unsent or deleted messages were merged out of the search index.
        var searchPurged = false
    }

    let store: any InboxStore
    let redis: RedisContextStore
    let bus: EventBus
    let journalRetention: RetentionPeriod
    let messageRetention: RetentionPeriod?
    let logger: Logger

    init(config: DMDeskConfig, store: any InboxStore, redis: RedisContextStore, bus: EventBus, logger: Logger) {
        self.store = store
        self.redis = redis
        self.bus = bus
        journalRetention = config.journalRetention
        messageRetention = config.messageRetention
        self.logger = logger
    }

    /// One pass: what it removed. A storage error ends the pass (logged); the next one tries again.
    func pass(now: EpochMillis = nowMillis()) async -> Pass {
        var done = Pass()
        do {
            let journalCutoff = now - journalRetention.milliseconds
            while !Task.isCancelled {
                let pruned = try await store.pruneJournal(before: journalCutoff, batchSize: Self.journalBatch)
                done.events += pruned
                if pruned == 0 { break }
                try await Task.sleep(for: Self.pause)
            }
            if let messageRetention {
                let cutoff = now - messageRetention.milliseconds
                while !Task.isCancelled {
                    let expired = try await store.expiredConversations(lastMessageBefore: cutoff, limit: Self.conversationBatch)
                    if expired.isEmpty { break }
                    let deleted = try await store.deleteConversations(expired, lastMessageBefore: cutoff)
                    if deleted.threads.isEmpty { break }
                    bus.publish(deleted.events)
                    if !(await redis.forgetAsync(customers: deleted.threads)) {
                        logger.warning(
                            "Redis is down: the context of deleted conversations expires by itself",
                            metadata: ["threads": "\(deleted.threads.count)", "expires_after_s": "\(RedisContextStore.ttlSeconds)"])
                    }
                    done.conversations += deleted.threads.count
                    try await Task.sleep(for: Self.pause)
                }
            }
            if !Task.isCancelled, try await store.purgeRemovedFromSearch() { done.searchPurged = true }
        } catch is CancellationError {
        } catch {
            logger.warning("retention pass failed; trying again next time", metadata: ["error": "\(error)"])
        }
        if done != Pass() {
            logger.info(
                "retention pass", metadata: ["events_pruned": "\(done.events)", "conversations_deleted": "\(done.conversations)",
                "search_index_purged": "\(done.searchPurged)"])
        }
        return done
    }
}
