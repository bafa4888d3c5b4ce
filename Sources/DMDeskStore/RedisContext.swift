import CHiredis
import DMDeskCore
import Foundation
import Logging

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

    public var state: State {
        lock.lock()
        defer { lock.unlock() }
        return State(up: context != nil, lastError: lastError)
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
        nextAttempt = Date().addingTimeInterval(backoff)
        backoff = min(backoff * 2, 30)
    }

    private func dropLocked() {
        if let context { redisFree(context) }
        context = nil
    }

    private static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// Sends commands with redisAppendCommandArgv (binary-safe, no format strings) and reads every reply.
    private func pipelineLocked(_ commands: [[String]]) throws -> [Reply] {
        guard let c = context else { throw RedisError.unavailable(lastError ?? "not connected") }
        for command in commands {
            let cStrings = command.map { strdup($0) }
            defer { cStrings.forEach { free($0) } }
            var argv = cStrings.map { UnsafePointer<CChar>($0) }
            var lengths = command.map { $0.utf8.count }
            let rc = argv.withUnsafeMutableBufferPointer { a in
                lengths.withUnsafeMutableBufferPointer { l in
                    redisAppendCommandArgv(c, Int32(command.count), a.baseAddress, l.baseAddress)
                }
            }
            if rc != dm_redis_ok() { throw RedisError.unavailable(Self.errorString(c)) }
        }
        var replies: [Reply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(c, &raw) != dm_redis_ok() || raw == nil {
                throw RedisError.unavailable(Self.errorString(c))
            }
            let reply = raw!.assumingMemoryBound(to: redisReply.self)
            replies.append(Reply(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    private func commandLocked(_ command: [String]) throws -> Reply {
        let reply = try pipelineLocked([command])[0]
        if case .error(let e) = reply { throw RedisError.command(e) }
        return reply
    }

    /// Runs `commands` as one pipeline; on a broken connection marks Redis down and rethrows.
    public func pipeline(_ commands: [[String]]) throws -> [Reply] {
        lock.lock()
        defer { lock.unlock() }
        guard connectLocked() else { throw RedisError.unavailable(lastError ?? "not connected") }
        do {
            return try pipelineLocked(commands)
        } catch {
            dropLocked()
            failLocked("\(error)")
            throw error
        }
    }

    public static func key(_ customer: String) -> String { "chat:" + customer }

    /// `{"r":"u","t":"…"}` — the format the plan fixed for context entries.
    public static func entry(_ turn: ContextTurn) -> String {
        "{\"r\":\"\(turn.role.rawValue)\",\"t\":" + jsonString(turn.text) + "}"
    }

    /// Appends turns as RPUSH + LTRIM -20 -1 + EXPIRE 86400 per customer, all in one pipeline.
    /// Returns false (and logs once) when Redis is down; the caller carries on with SQLite alone.
    @discardableResult
    public func push(_ turns: [ContextTurn]) -> Bool {
        guard !turns.isEmpty else { return true }
        var commands: [[String]] = []
        commands.reserveCapacity(turns.count * 3)
        for turn in turns {
            let key = Self.key(turn.customer)
            commands.append(["RPUSH", key, Self.entry(turn)])
            commands.append(["LTRIM", key, String(-Self.maxTurns), "-1"])
            commands.append(["EXPIRE", key, String(Self.ttlSeconds)])
        }
        do {
            let replies = try pipeline(commands)
            if let error = replies.lazy.compactMap({ if case .error(let e) = $0 { return e } else { return nil } }).first {
                logger.warning("Redis rejected a context update", metadata: ["error": "\(error)"])
                return false
            }
            return true
        } catch {
            return false
        }
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

/// Encodes a string as a JSON string literal (quotes included).
public func jsonString(_ s: String) -> String {
    var out = "\""
    out.reserveCapacity(s.utf8.count + 2)
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
            out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
