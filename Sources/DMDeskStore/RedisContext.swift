import CHiredis
import DMDeskCore
import Foundation
import Logging
import Synchronization

public enum RedisError: Error, CustomStringConvertible, Equatable {
    case unavailable(String)
    case command(String)
    public var description: String {
        switch self {
        case .unavailable(let why): return "Redis unavailable: \(why)"
        case .command(let why): return "Redis error: \(why)"
        }
    }
}

/// The rolling context of each conversation in Redis: `chat:{customer}` holds the last 20 turns for 24 hours.
/// hiredis is synchronous; one connection is shared under a lock. When Redis is down, pushes are skipped
/// (SQLite still holds everything) and reconnects are tried with exponential backoff.
public final class RedisContextStore: @unchecked Sendable {
    public static let maxTurns = 20
    public static let ttlSeconds = 86_400

    public struct State: Sendable, Equatable {
        public var up: Bool
        public var lastError: String?
    }

    private let endpoint: RedisEndpoint
    private let logger: Logger
    private let lock = NSLock()
    /// What `state` answers: kept apart from `lock`, which a connect holds for up to `timeoutMs`, so that /health
    /// and the status events never wait on Redis.
    private let published = Mutex(State(up: false, lastError: nil))
    /// hiredis blocks (a connect waits up to `timeoutMs`): async callers hand their calls to this queue, never run
    /// them on a cooperative-pool thread. Dedicated threads (ingest, the processor) call the blocking methods.
    private let queue = DispatchQueue(label: "dmdesk-redis")
    private var context: UnsafeMutablePointer<redisContext>?
    private var lastError: String?
    private var backoff: Double = 0.25
    private var nextAttempt = Date.distantPast
    private var everConnected = false
    private let timeoutMs: Int

    public init(endpoint: RedisEndpoint, logger: Logger, timeoutMs: Int = 500) {
        self.endpoint = endpoint
        self.logger = logger
        self.timeoutMs = timeoutMs
    }

    deinit {
        if let context { redisFree(context) }
    }

    public var state: State { published.withLock { $0 } }

    private func publishStateLocked() {
        let now = State(up: context != nil, lastError: lastError)
        published.withLock { $0 = now }
    }

    /// Connects now if the backoff allows; returns whether a connection is up.
    @discardableResult
    public func ensureConnected() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return connectLocked()
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if let context { redisFree(context) }
        context = nil
        publishStateLocked()
    }

    private func connectLocked() -> Bool {
        if context != nil { return true }
        guard Date() >= nextAttempt else { return false }
        guard let c = dm_redis_connect(endpoint.host, Int32(endpoint.port), timeoutMs) else {
            failLocked("cannot allocate a Redis context")
            return false
        }
        if c.pointee.err != 0 {
            let why = Self.errorString(c)
            redisFree(c)
            failLocked("connect to \(endpoint.host):\(endpoint.port) failed: \(why)")
            return false
        }
        _ = dm_redis_set_timeout(c, timeoutMs)
        context = c
        var setup: [[String]] = []
        if let password = endpoint.password {
            setup.append(endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        if endpoint.db != 0 { setup.append(["SELECT", String(endpoint.db)]) }
        setup.append(["PING"])
        for command in setup {
            do { _ = try commandLocked(command) } catch {
                let why = "\(error)"
                dropLocked()
                failLocked(why)
                return false
            }
        }
        backoff = 0.25
        lastError = nil
        publishStateLocked()
        logger.info("Redis connected", metadata: ["host": "\(endpoint.host)", "port": "\(endpoint.port)", "db": "\(endpoint.db)"])
        if everConnected { logger.notice("Redis context updates resumed") }
        everConnected = true
        return true
    }

    private func failLocked(_ why: String) {
        if lastError != why || context != nil {
            logger.warning("Redis unavailable; ingest continues with SQLite alone", metadata: ["error": "\(why)", "retry_in_s": "\(backoff)"])
        }
        lastError = why
        publishStateLocked()
        nextAttempt = Date().addingTimeInterval(backoff)
        backoff = min(backoff * 2, 30)
    }

    private func dropLocked() {
        if let context { redisFree(context) }
        context = nil
        publishStateLocked()
    }

    // MARK: - From async code (on `queue`)

    /// `ensureConnected()` on the Redis queue.
    @discardableResult
    public func connectAsync() async -> Bool { await onQueue { $0.ensureConnected() } }

    /// `push(_:)` on the Redis queue.
    @discardableResult
    public func pushAsync(_ turns: [ContextTurn]) async -> Bool { await onQueue { $0.push(turns) } }

    /// `turns(customer:)` on the Redis queue.
    public func turnsAsync(customer: String) async throws -> [ContextTurn] {
        try await onQueue { store in Result { try store.turns(customer: customer) } }.get()
    }

    /// `close()` on the Redis queue, after every call queued before it.
    public func closeAsync() async { await onQueue { $0.close() } }
    /// `forget`, on the store's queue.
    public func forgetAsync(customers: [String]) async -> Bool { await onQueue { $0.forget(customers: customers) } }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable (RedisContextStore) -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body(self)) }
        }
    }

    private static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// Writes commands in the Redis protocol (RESP arrays of bulk strings: binary-safe, no format strings) into one
    /// buffer, so a whole pipeline is one redisAppendFormattedCommand call and no per-argument C string copies.
    struct CommandBuffer {
        var bytes: [UInt8] = []
        var count = 0

        mutating func append(_ args: String...) { append(args) }

        mutating func append(_ args: [String]) {
            header(UInt8(ascii: "*"), args.count)
            for arg in args { bulk(arg) }
            count += 1
        }

        /// `*<n>` opener of one command whose `n` arguments follow through `bulk`.
        mutating func begin(_ n: Int) {
            header(UInt8(ascii: "*"), n)
            count += 1
        }

        mutating func bulk(_ arg: String) {
            var arg = arg
            arg.withUTF8 { utf8 in
                header(UInt8(ascii: "$"), utf8.count)
                bytes.append(contentsOf: utf8)
            }
            bytes.append(0x0D)
            bytes.append(0x0A)
        }

        private mutating func header(_ kind: UInt8, _ n: Int) {
            bytes.append(kind)
            bytes.append(contentsOf: String(n).utf8)
            bytes.append(0x0D)
            bytes.append(0x0A)
        }
    }

    /// Sends a prepared pipeline and reads every reply.
    private func pipelineLocked(_ buffer: CommandBuffer) throws -> [Reply] {
        var replies: [Reply] = []
        replies.reserveCapacity(buffer.count)
        try pipelineLocked(buffer) { replies.append(Reply($0)) }
        return replies
    }

    private func pipelineLocked(_ buffer: CommandBuffer, _ each: (UnsafeMutablePointer<redisReply>) -> Void) throws {
        guard let c = context else { throw RedisError.unavailable(lastError ?? "not connected") }
        guard buffer.count > 0 else { return }
        let rc = buffer.bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(c, $0.baseAddress, $0.count) }
        }
        if rc != dm_redis_ok() { throw RedisError.unavailable(Self.errorString(c)) }
        for _ in 0..<buffer.count {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(c, &raw) != dm_redis_ok() || raw == nil {
                throw RedisError.unavailable(Self.errorString(c))
            }
            each(raw!.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(raw)
        }
    }

    private func pipelineLocked(_ commands: [[String]]) throws -> [Reply] {
        var buffer = CommandBuffer()
        for command in commands { buffer.append(command) }
        return try pipelineLocked(buffer)
    }

    private func commandLocked(_ command: [String]) throws -> Reply {
        let reply = try pipelineLocked([command])[0]
        if case .error(let e) = reply { throw RedisError.command(e) }
        return reply
    }

    /// Runs `commands` as one pipeline; on a broken connection marks Redis down and rethrows.
    public func pipeline(_ commands: [[String]]) throws -> [Reply] {
        var buffer = CommandBuffer()
        for command in commands { buffer.append(command) }
        return try pipeline(buffer)
    }

    func pipeline(_ buffer: CommandBuffer) throws -> [Reply] {
        try locked { try pipelineLocked(buffer) }
    }

    private func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard connectLocked() else { throw RedisError.unavailable(lastError ?? "not connected") }
        do {
            return try body()
        } catch {
            dropLocked()
            failLocked("\(error)")
            throw error
        }
    }

    public static func key(_ customer: String) -> String { "chat:" + customer }

    /// `{"r":"u","t":"…"}` — the format the plan fixed for context entries.
    public static func entry(_ turn: ContextTurn) -> String {
        "{\"r\":\"\(turn.role.rawValue)\",\"t\":" + JSONValue.quote(turn.text) + "}"
    }

    /// Appends turns as RPUSH + LTRIM -20 -1 + EXPIRE 86400 per customer, all in one pipeline. Several turns of
    /// one customer go into a single RPUSH (in their order), followed by that customer's LTRIM and EXPIRE: the
    /// list ends up exactly as with one RPUSH/LTRIM/EXPIRE per turn.
    /// Returns false (and logs once) when Redis is down; the caller carries on with SQLite alone.
    @discardableResult
    public func push(_ turns: [ContextTurn]) -> Bool {
        guard !turns.isEmpty else { return true }
        let buffer = Self.pushCommands(turns)
        var firstError: String?
        do {
            try locked {
                try pipelineLocked(buffer) { reply in
                    if firstError == nil, Int32(reply.pointee.type) == dm_redis_reply_error() { firstError = Reply(reply).errorText }
                }
            }
        } catch {
            return false
        }
        if let firstError {
            logger.warning("Redis rejected a context update", metadata: ["error": "\(firstError)"])
            return false
        }
        return true
    }

    static func pushCommands(_ turns: [ContextTurn]) -> CommandBuffer {
        // Customers in order of first appearance, each with its turns in order.
        var order: [String] = []
        var byCustomer: [String: [Int]] = [:]
        for (i, turn) in turns.enumerated() {
            if byCustomer[turn.customer] == nil {
                order.append(turn.customer)
                byCustomer[turn.customer] = [i]
            } else {
                byCustomer[turn.customer]!.append(i)
            }
        }
        var buffer = CommandBuffer()
        buffer.bytes.reserveCapacity(turns.count * 120 + order.count * 100)
        let trimStart = String(-maxTurns)
        let ttl = String(ttlSeconds)
        for customer in order {
            let indices = byCustomer[customer]!
            let key = Self.key(customer)
            buffer.begin(2 + indices.count)
            buffer.bulk("RPUSH")
            buffer.bulk(key)
            for i in indices { buffer.bulk(entry(turns[i])) }
            buffer.append("LTRIM", key, trimStart, "-1")
            buffer.append("EXPIRE", key, ttl)
        }
        return buffer
    }

    /// Takes unsent messages out of their customers' context: `LREM chat:{customer} -1 entry` per turn, one pipeline
    /// (the newest equal entry goes; equal entries are indistinguishable). False when Redis is down: the entry then
    /// expires with the list, within 24 hours.
    @discardableResult
    public func erase(_ turns: [ContextTurn]) -> Bool {
        guard !turns.isEmpty else { return true }
        var buffer = CommandBuffer()
        for turn in turns { buffer.append("LREM", Self.key(turn.customer), "-1", Self.entry(turn)) }
        do {
            _ = try locked { try pipelineLocked(buffer) }
            return true
        } catch {
            return false
        }
    }

    /// Deletes the context of these customers (message retention: their conversations are gone). False when Redis
    /// is down; the keys then still expire after `ttlSeconds`.
    public func forget(customers: [String]) -> Bool {
        guard !customers.isEmpty else { return true }
        return (try? pipeline([["DEL"] + customers.map(Self.key)])) != nil
    }

    /// The stored turns of one customer, oldest first.
    public func turns(customer: String) throws -> [ContextTurn] {
        let reply = try pipeline([["LRANGE", Self.key(customer), "0", "-1"]])[0]
        guard case .array(let items) = reply else { return [] }
        return items.compactMap { item in
            guard case .string(let s) = item, let json = try? JSONValue.parse(Data(s.utf8)),
                let role = json["r"]?.stringValue.flatMap(ContextTurn.Role.init(rawValue:)), let text = json["t"]?.stringValue
            else { return nil }
            return ContextTurn(customer: customer, role: role, text: text)
        }
    }

    public enum Reply: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        case array([Reply])
        case status(String)
        case error(String)
        case null

        var errorText: String? { if case .error(let e) = self { return e } else { return nil } }

        init(_ r: UnsafeMutablePointer<redisReply>) {
            let type = r.pointee.type
            func text() -> String {
                guard let s = r.pointee.str else { return "" }
                return String(decoding: UnsafeRawBufferPointer(start: s, count: Int(r.pointee.len)), as: UTF8.self)
            }
            switch Int32(type) {
            case dm_redis_reply_string(): self = .string(text())
            case dm_redis_reply_status(): self = .status(text())
            case dm_redis_reply_error(): self = .error(text())
            case dm_redis_reply_integer(): self = .integer(r.pointee.integer)
            case dm_redis_reply_array():
                var items: [Reply] = []
                for i in 0..<Int(r.pointee.elements) {
                    if let child = r.pointee.element[i] { items.append(Reply(child)) }
                }
                self = .array(items)
            default: self = .null
            }
        }
    }
}
