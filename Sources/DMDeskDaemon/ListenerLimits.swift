import DMDeskCore
import Foundation
import Glibc
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

// The webhook listener under abuse. Every TCP connection holds a descriptor, and the daemon's descriptors are
// shared with the control socket, SQLite, Redis and the Graph client: connections that never send a request, or
// send one a byte at a time, must not be able to take them all. So each connection is either
//   idle       — no request in progress: closed after the idle timeout, and the first to go when the cap is hit;
//   receiving  — a request's head or body is arriving: the whole request must arrive within the request timeout
//                of its first byte (a deadline, not a per-read timer, so a slow drip cannot stretch it);
//   responding — the request is in, our handler is working: no timer (that is our time, not the client's).
// and there are at most `maxConnections` of them. A connection over the cap closes the longest-idle one; if none
// is idle, the new one is accepted and closed at once, before a byte is read (see `ConnectionLimiter`).

/// The listener's limits, from the configuration and the process's descriptor limit.
public struct ListenerLimits: Sendable, Equatable {
    public var maxConnections: Int
    public var idleTimeout: Duration
    public var requestTimeout: Duration

    /// Descriptors the listener leaves to the rest of the daemon: the control socket, its clients and their wake
    /// pipes; SQLite's writer, readers, checkpointer and quick_check (each with its database, WAL and shm files);
    /// Redis; the Graph client's connection pool; NIO's epoll, eventfd and timerfd per event loop; logs.
    public static let reservedDescriptors = 128

    public init(maxConnections: Int, idleTimeout: Duration, requestTimeout: Duration) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }

    /// The configured limits, the cap lowered to what `descriptorLimit` leaves after the reserve.
    public init(config: DMDeskConfig, descriptorLimit: UInt64) {
        self.init(
            maxConnections: Self.maxConnections(configured: config.maxConnections, descriptorLimit: descriptorLimit),
            idleTimeout: .milliseconds(config.idleTimeoutMs), requestTimeout: .milliseconds(config.requestTimeoutMs))
    }

    public static func maxConnections(configured: Int, descriptorLimit: UInt64) -> Int {
        let limit = Int(clamping: descriptorLimit)
        // A tiny limit (a test, a strange container) still leaves half to the rest.
        let available = limit > 2 * reservedDescriptors ? limit - reservedDescriptors : limit / 2
        return max(1, min(configured, available))
    }
}

/// RLIMIT_NOFILE: the soft limit (often 1,024) is raised to the hard limit at start, so the cap can be generous.
enum DescriptorLimit {
    struct Raise {
        var before: UInt64
        var now: UInt64
        var hard: UInt64
        var error: String?
    }

    static func raiseToHardLimit() -> Raise {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            return Raise(before: 1024, now: 1024, hard: 1024, error: "getrlimit: \(String(cString: strerror(errno)))")
        }
        let before = UInt64(limit.rlim_cur)
        var target = limit.rlim_max
        // "unlimited" is not a number setrlimit accepts for descriptors; the kernel's ceiling is.
        if target == rlim_t.max {  // RLIM_INFINITY
            let ceiling = (try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8))
                .flatMap { rlim_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            target = ceiling ?? 1_048_576
        }
        var error: String?
        if limit.rlim_cur < target {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) != 0 {
                error = "setrlimit: \(String(cString: strerror(errno)))"
            }
        }
        var now = rlimit()
        _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &now)
        return Raise(before: before, now: UInt64(now.rlim_cur), hard: UInt64(now.rlim_max), error: error)
    }
}

/// What the listener did with its connections, for /health.
public struct ListenerStats: Sendable, Equatable {
    public var open = 0
    /// Open connections with no request in progress.
    public var idle = 0
    public var maxConnections = 0
    public var accepted = 0
    /// Idle connections closed to make room for a new one at the cap.
    public var evictedIdle = 0
    /// New connections closed at once: the cap was reached and none was idle.
    public var refused = 0
    public var idleTimeouts = 0
    public var requestTimeouts = 0
}

/// Every open connection of the listener, across event loops. Admission closes the longest-idle connection when
/// the cap is reached, because an idle connection is the one nobody loses by: a keep-alive client reconnects,
/// and an idle flood then only ever holds `maxConnections` descriptors while real requests still get in. Only if
/// every connection has a request in progress is the new one refused, and then it is accepted and closed at once
/// rather than answered 503: a 503 would mean reading the request (the very work the cap exists to bound), and
/// closing with the request unread resets the connection, so the 503 may never be seen anyway. Meta retries a
/// delivery that was not answered 200, so a closed connection costs nothing but a retry.
final class ConnectionLimiter: Sendable {
    enum Admission {
        case admitted(id: Int, evicting: (any Channel)?)
        case refused
    }

    private struct Entry {
        let channel: any Channel
        /// When it last became idle (a counter, for order); nil while a request is in progress.
        var idleSince: UInt64?
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextId = 0
        var clock: UInt64 = 0
        var stats = ListenerStats()
    }

    let limits: ListenerLimits
    private let state: Mutex<State>

    init(limits: ListenerLimits) {
        self.limits = limits
        var initial = State()
        initial.stats.maxConnections = limits.maxConnections
        state = Mutex(initial)
    }

    var stats: ListenerStats {
        state.withLock { s in
            var stats = s.stats
            stats.open = s.entries.count
            stats.idle = s.entries.values.filter { $0.idleSince != nil }.count
            return stats
        }
    }

    func admit(_ channel: any Channel) -> Admission {
        let admission: Admission = state.withLock { s in
            var evicting: (any Channel)?
            if s.entries.count >= limits.maxConnections {
                // The longest idle; a scan is fine: this runs only at the cap, over at most maxConnections entries.
                guard let oldest = s.entries.filter({ $0.value.idleSince != nil })
                    .min(by: { $0.value.idleSince! < $1.value.idleSince! })
                else {
                    s.stats.refused += 1
                    return .refused
                }
                // Its first bytes may be arriving on its own event loop right now; then that one request is
                // lost to a reset, which the client retries. Checking on that loop first would let the cap slip.
                s.entries[oldest.key] = nil
                s.stats.evictedIdle += 1
                evicting = oldest.value.channel
            }
            s.nextId += 1
            s.clock += 1
            s.entries[s.nextId] = Entry(channel: channel, idleSince: s.clock)
            s.stats.accepted += 1
            return .admitted(id: s.nextId, evicting: evicting)
        }
        return admission
    }

    func setIdle(_ id: Int, _ idle: Bool) {
        state.withLock { s in
            guard s.entries[id] != nil else { return }
            if idle {
                s.clock += 1
                s.entries[id]!.idleSince = s.clock
            } else {
                s.entries[id]!.idleSince = nil
            }
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { s in s.entries.removeValue(forKey: id) }
    }

    func countTimeout(request: Bool) {
        state.withLock { s in
            if request { s.stats.requestTimeouts += 1 } else { s.stats.idleTimeouts += 1 }
        }
    }
}

/// One connection's phase and its one timer. Lives on the connection's event loop; shared by the two handlers
/// that see the connection's raw bytes and its decoded HTTP parts.
final class ConnectionGuard {
    private let limiter: ConnectionLimiter
    private let channel: any Channel
    private var id: Int?
    /// Bytes of a request have arrived and its end has not.
    private var receiving = false
    /// Requests whose response has not been written to its end.
    private var responsesOwed = 0
    private var timer: Scheduled<Void>?

    init(limiter: ConnectionLimiter, channel: any Channel) {
        self.limiter = limiter
        self.channel = channel
    }

    /// Admits the connection, or closes it before anything is read. Returns whether it was admitted.
    func activate(eventLoop: any EventLoop) -> Bool {
        switch limiter.admit(channel) {
        case .refused:
            return false
        case .admitted(let id, let evicting):
            self.id = id
            // `close` hops to the evicted channel's own event loop.
            evicting?.close(promise: nil)
            armTimer(limiter.limits.idleTimeout, request: false, eventLoop: eventLoop)
            return true
        }
    }

    func deactivate() {
        timer?.cancel()
        timer = nil
        if let id { limiter.remove(id) }
        id = nil
    }

    /// Raw bytes arrived: the first of a request starts its deadline.
    func bytesArrived(eventLoop: any EventLoop) {
        if !receiving { startReceiving(eventLoop: eventLoop) }
    }

    func requestPart(_ part: HTTPServerRequestPart, eventLoop: any EventLoop) {
        switch part {
        case .head:
            responsesOwed += 1
            // Its first bytes may have come with the previous request's end.
            if !receiving { startReceiving(eventLoop: eventLoop) }
        case .body:
            break
        case .end:
            receiving = false
            settle(eventLoop: eventLoop)
        }
    }

    func responseEnded(eventLoop: any EventLoop) {
        responsesOwed = max(0, responsesOwed - 1)
        // A response sent before its request's body was read (a refusal) leaves the deadline running while the
        // rest of the body is drained.
        settle(eventLoop: eventLoop)
    }

    private func startReceiving(eventLoop: any EventLoop) {
        receiving = true
        if let id { limiter.setIdle(id, false) }
        armTimer(limiter.limits.requestTimeout, request: true, eventLoop: eventLoop)
    }

    private func settle(eventLoop: any EventLoop) {
        guard !receiving, let id else { return }
        if responsesOwed > 0 {
            timer?.cancel()
            timer = nil
            limiter.setIdle(id, false)
        } else {
            limiter.setIdle(id, true)
            armTimer(limiter.limits.idleTimeout, request: false, eventLoop: eventLoop)
        }
    }

    private func armTimer(_ after: Duration, request: Bool, eventLoop: any EventLoop) {
        timer?.cancel()
        timer = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(after.nanoseconds)) { [self] in
            timer = nil
            guard id != nil else { return }
            limiter.countTimeout(request: request)
            channel.close(promise: nil)
        }
    }
}

/// First in the pipeline: sees the connection open and close, and every read's raw bytes.
final class RawReadWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let connection: ConnectionGuard

    init(_ connection: ConnectionGuard) { self.connection = connection }

    func channelActive(context: ChannelHandlerContext) {
        let admitted = connection.activate(eventLoop: context.eventLoop)
        context.fireChannelActive()
        // Over the cap with nothing idle: closed before the first read.
        if !admitted { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.deactivate()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.bytesArrived(eventLoop: context.eventLoop)
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connection.deactivate()
    }
}

/// Right after the HTTP/1 decoder: sees each request's head and end, and each response's end.
final class MessageWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private let connection: ConnectionGuard

    init(_ connection: ConnectionGuard) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.requestPart(unwrapInboundIn(data), eventLoop: context.eventLoop)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        if isEnd { connection.responseEnded(eventLoop: context.eventLoop) }
    }
}

/// Hummingbird's HTTP/1 channel with the guard's two handlers around its decoder.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let limiter: ConnectionLimiter

    init(responder: @escaping HTTPChannelHandler.Responder, limiter: ConnectionLimiter) {
        // Hummingbird's own idle timer is left off: ours also covers a request's head and body.
        inner = HTTP1Channel(responder: responder, configuration: .init())
        self.limiter = limiter
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let limiter = self.limiter
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let connection = ConnectionGuard(limiter: limiter, channel: channel)
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(RawReadWatch(connection), position: .first)
            let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(MessageWatch(connection), position: .after(decoder.handler))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }

    static func builder(limiter: ConnectionLimiter) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, limiter: limiter) }
    }
}
