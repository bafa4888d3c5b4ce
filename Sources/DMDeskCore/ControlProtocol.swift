import Foundation

/// The control socket's wire format: newline-delimited JSON, one object a line. See docs/PROTOCOL.md.
public enum ControlProtocol {
    public static let version = 1
    public static let maxLineBytes = 1 << 20
}

/// Request names a client may send.
public enum ControlRequestType: String, Codable, Sendable, CaseIterable {
    case threads, history, send, react, takeover, release, resolve, reopen
    case markRead = "mark_read"
    case notify, subscribe, status, retry, backup
    /// An operator opened the thread in a console (with `DMDESK_MARK_SEEN`, the customer is told it was seen).
    case open
    /// The Instagram token: source, expiry, last check (`dmdesk token status`); and a refresh now (`token refresh`).
    case tokenStatus = "token_status"
    case tokenRefresh = "token_refresh"
    /// Full-text search over messages: `text` (the user's words), optional `thread` and `limit`.
    case search
    /// Comments under the account's posts (`unanswered`, `limit`); and a reply to one (`comment`, `text`, `public`).
    case comments
    case commentReply = "comment_reply"
    /// Pull conversations and messages since `after` from Meta's Conversations API and store what is missing.
    case sync
    /// Snooze `thread` until `until` (epoch ms), or with no `until` until the customer writes; `cancel: true` ends a
    /// snooze now.
    case snooze
}

/// A request line: `{"id":1,"type":"send","thread":"…","text":"…"}`. Parameters sit beside `id` and `type`.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var id: JSONValue
    public var type: String
    public var thread: String?
    public var text: String?
    public var mid: String?
    public var reaction: String?
    public var before: EpochMillis?
    public var limit: Int?
    public var since: Int64?
    public var mode: ThreadMode?
    public var status: ThreadStatus?
    public var unread: Bool?
    public var search: String?
    public var outbound: Int64?
    /// `send`: media by URL, sent after `text` (if any) as a message of its own.
    public var attachment: OutgoingAttachment?
    /// `backup`: the absolute path of the file to write.
    public var path: String?
    /// `comment_reply`: the comment id; `public`: reply publicly under it instead of privately (a DM).
    public var comment: String? = nil
    public var `public`: Bool? = nil
    /// `comments`: only those without a reply.
    public var unanswered: Bool? = nil
    /// `sync`: messages from this time on (epoch ms).
    public var after: EpochMillis?
    /// `snooze`: when the thread comes back (epoch ms); `cancel` ends the snooze instead.
    public var until: EpochMillis? = nil
    public var cancel: Bool? = nil

    public init(
        id: JSONValue, type: ControlRequestType, thread: String? = nil, text: String? = nil, mid: String? = nil,
        reaction: String? = nil, before: EpochMillis? = nil, limit: Int? = nil, since: Int64? = nil,
        mode: ThreadMode? = nil, status: ThreadStatus? = nil, unread: Bool? = nil, search: String? = nil,
        outbound: Int64? = nil, attachment: OutgoingAttachment? = nil, path: String? = nil, after: EpochMillis? = nil
    ) {
        self.after = after
        self.id = id
        self.type = type.rawValue
        self.thread = thread
        self.text = text
        self.mid = mid
        self.reaction = reaction
        self.before = before
        self.limit = limit
        self.since = since
        self.mode = mode
        self.status = status
        self.unread = unread
        self.search = search
        self.outbound = outbound
        self.attachment = attachment
        self.path = path
    }
}

public struct ControlError: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }

    public static func badRequest(_ message: String) -> ControlError { .init(code: "bad_request", message: message) }
    public static func notFound(_ message: String) -> ControlError { .init(code: "not_found", message: message) }
    /// `subscribe since` cannot resume: the events after `since` are no longer all in the journal (pruned by
    /// retention), or `since` is past its end (a restored database). The client reloads and subscribes afresh.
    public static let resyncCode = "resync"
    public static func resync(since: Int64, _ bounds: JournalBounds) -> ControlError {
        let why =
            since > bounds.newest
            ? "the journal ends at seq \(bounds.newest), before \(since) (was the database restored?)"
            : "events after seq \(since) are no longer kept (the journal starts at \(bounds.oldest ?? bounds.newest + 1))"
        return .init(code: resyncCode, message: "\(why); reload threads and history, then subscribe without since")
    }
}

/// Every line the server writes. `type` is `hello`, `ok`, `error` or `event`.
public struct ServerLine: Codable, Sendable, Equatable {
    public var type: String
    public var id: JSONValue?
    // hello
    public var `protocol`: Int?
    public var daemon: String?
    public var account: String?
    public var listener: String?
    /// Whether an operator may reply with the HUMAN_AGENT tag (7 days instead of 24 hours): the console shows both clocks.
    public var humanAgentTag: Bool?
    // ok
    public var result: JSONValue?
    // error
    public var error: ControlError?
    // event
    public var seq: Int64?
    public var event: String?
    public var thread: String?
    public var data: JSONValue?
    public var at: EpochMillis?

    public init(type: String) { self.type = type }

    public static func hello(daemon: String, account: String?, listener: String, humanAgentTag: Bool? = nil) -> ServerLine {
        var line = ServerLine(type: "hello")
        line.protocol = ControlProtocol.version
        line.daemon = daemon
        line.account = account
        line.listener = listener
        line.humanAgentTag = humanAgentTag
        return line
    }

    public static func ok(id: JSONValue, result: JSONValue) -> ServerLine {
        var line = ServerLine(type: "ok")
        line.id = id
        line.result = result
        return line
    }

    public static func error(id: JSONValue?, _ error: ControlError) -> ServerLine {
        var line = ServerLine(type: "error")
        line.id = id
        line.error = error
        return line
    }

    public static func event(_ event: JournalEvent) -> ServerLine {
        var line = ServerLine(type: "event")
        line.seq = event.seq
        line.event = event.type
        line.thread = event.thread
        line.data = event.data
        line.at = event.at
        return line
    }
}

/// Event names in the journal and on the socket.
public enum EventType {
    public static let messageReceived = "message.received"
    public static let messageSent = "message.sent"
    public static let outboundUpdated = "outbound.updated"
    public static let threadUpdated = "thread.updated"
    public static let reaction = "reaction"
    public static let read = "read"
    public static let daemonStatus = "daemon.status"
    public static let messageUpdated = "message.updated"
    public static let postback = "postback"
    public static let unknown = "webhook.unknown"
    /// An event the daemon could not store as what it claims to be, kept raw with the reason.
    public static let invalid = "webhook.invalid"
    public static let agentStep = "agent.step"
    /// A whole conversation was deleted by message retention (`DMDESK_MESSAGE_RETENTION`).
    public static let threadDeleted = "thread.deleted"
    /// A comment under a post arrived (`comments` webhook field); data: a `CommentView`.
    public static let commentReceived = "comment.received"
    /// A comment's replies changed (queued, sent, failed); data: a `CommentView`.
    public static let commentUpdated = "comment.updated"
}

/// Which events the journal still holds: what `subscribe since` can replay.
public struct JournalBounds: Sendable, Equatable {
    /// The oldest `seq` kept (nil: the journal is empty).
    public var oldest: Int64?
    /// The newest `seq` ever written (0: none).
    public var newest: Int64

    public init(oldest: Int64?, newest: Int64) {
        self.oldest = oldest
        self.newest = newest
    }

    /// Whether a client that has seen everything up to `since` can be given exactly what it missed. Retention
    /// removes only the journal's oldest rows, so everything after `since` is there unless rows past it are gone.
    public func canResume(since: Int64) -> Bool {
        if since > newest { return false }
        guard let oldest else { return since >= newest }
        return since >= oldest - 1
    }
}

/// One row of the events journal: what consoles receive live and resume from by `seq`.
public struct JournalEvent: Codable, Sendable, Equatable {
    public var seq: Int64
    public var type: String
    public var thread: String?
    public var data: JSONValue
    public var at: EpochMillis

    public init(seq: Int64, type: String, thread: String?, data: JSONValue, at: EpochMillis) {
        self.seq = seq
        self.type = type
        self.thread = thread
        self.data = data
        self.at = at
    }
}

extension JSONValue {
    /// Turns any Codable value into a JSONValue (for `result` and `data` fields).
    public static func from<T: Encodable>(_ value: T) -> JSONValue {
        guard let data = try? JSONEncoder.compact.encode(value), let json = try? JSONValue.parse(data) else { return .null }
        return json
    }

    /// Decodes a JSONValue into a Codable type.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: encoded())
    }
}
