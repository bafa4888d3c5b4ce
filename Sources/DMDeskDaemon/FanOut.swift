import DMDeskControl
import DMDeskCore
import DMDeskStore

/// What follows a commit, in every part that commits: the events to subscribers, the outbox rows to the worker,
/// the replies into the customers' Redis context.
final class FanOut: Sendable {
    let bus: EventBus
    let redis: RedisContextStore
    let outbox: OutboxWorker

    init(bus: EventBus, redis: RedisContextStore, outbox: OutboxWorker) {
        self.bus = bus
        self.redis = redis
        self.outbox = outbox
    }

    func publish(_ events: [JournalEvent]) { bus.publish(events) }

    /// What follows a committed reply plan (the processor's batches, the agent's actions): the replies into the
    /// Redis context, the events to subscribers, the outbox rows to the worker — rows committed as pending just
    /// now and handed to no one else, so the worker need not read them back. From the processor's own thread: the
    /// Redis push may block it.
    func dispatch(context: [ContextTurn], events: [JournalEvent], records: [OutboundRecord]) {
        if !context.isEmpty { redis.push(context) }
        handOn(events: events, records: records)
    }

    /// The same from async code (the agent's runs): the Redis push waits on Redis's queue, not a pool thread.
    func dispatch(_ completion: BatchCompletion) async {
        if !completion.context.isEmpty { await redis.pushAsync(completion.context) }
        handOn(events: completion.events, records: completion.records)
    }

    private func handOn(events: [JournalEvent], records: [OutboundRecord]) {
        if !events.isEmpty { publish(events) }
        for record in records { outbox.submit(record, fresh: true) }
    }

    /// A row committed pending: the worker marks it `sending` before its call.
    func submit(_ record: OutboundRecord) { outbox.submit(record) }
}
