import Foundation

// Reading socket lines with dmdesk's own JSON reader instead of JSONDecoder: on Linux, JSONDecoder building a
// `JSONValue` result (a search's 50 hits, 12 KB) took several milliseconds per line, more than the daemon's work.
// Each reader accepts exactly what the synthesized Decodable would, and yields the same value.

extension ServerLine {
    /// The line, or nil when it is not a server line (what `JSONDecoder().decode(ServerLine.self, …)` would refuse).
    public static func read(_ raw: Data) -> ServerLine? {
        guard let json = try? JSONValue.parse(raw), case .object(let o) = json else { return nil }
        return ServerLine(members: o)
    }

    init?(members o: [String: JSONValue]) {
        guard case .string(let type)? = o["type"] else { return nil }
        self.init(type: type)
        func present(_ key: String) -> JSONValue? {
            guard let value = o[key], value != .null else { return nil }
            return value
        }
        func string(_ key: String) -> String?? {
            guard let value = present(key) else { return .some(nil) }
            guard case .string(let s) = value else { return nil }
            return .some(s)
        }
        func whole(_ key: String) -> Int64?? {
            guard let value = present(key) else { return .some(nil) }
            guard case .number(let n) = value, let i = Int64(exactly: n) else { return nil }
            return .some(i)
        }
        id = present("id")
        result = present("result")
        data = present("data")
        guard let daemon = string("daemon"), let account = string("account"), let listener = string("listener"),
            let event = string("event"), let thread = string("thread"), let seq = whole("seq"), let at = whole("at"),
            let version = whole("protocol")
        else { return nil }
        self.daemon = daemon
        self.account = account
        self.listener = listener
        self.event = event
        self.thread = thread
        self.seq = seq
        self.at = at
        guard version.map({ Int(exactly: $0) != nil }) ?? true else { return nil }
        self.protocol = version.map { Int($0) }
        if let tag = present("humanAgentTag") {
            guard case .bool(let b) = tag else { return nil }
            humanAgentTag = b
        }
        if let error = present("error") {
            guard case .string(let code)? = error["code"], case .string(let message)? = error["message"] else { return nil }
            self.error = ControlError(code: code, message: message)
        }
    }
}

extension SearchHit {
    /// A hit from a `search` reply, or nil when it is not one (what the synthesized Decodable would refuse).
    public init?(json: JSONValue) {
        guard case .object(let o) = json,
            case .string(let mid)? = o["mid"], case .string(let thread)? = o["thread"],
            case .string(let way)? = o["direction"], let direction = MessageDirection(rawValue: way),
            case .string(let author)? = o["author"], case .number(let at)? = o["timestamp"], let timestamp = Int64(exactly: at),
            case .string(let snippet)? = o["snippet"], case .array(let marks)? = o["highlights"]
        else { return nil }
        var highlights: [Range] = []
        for mark in marks {
            guard case .number(let s)? = mark["start"], case .number(let l)? = mark["length"],
                let start = Int(exactly: s), let length = Int(exactly: l)
            else { return nil }
            highlights.append(Range(start: start, length: length))
        }
        func optional(_ key: String) -> String?? {
            guard let value = o[key], value != .null else { return .some(nil) }
            guard case .string(let s) = value else { return nil }
            return .some(s)
        }
        guard let name = optional("name"), let username = optional("username") else { return nil }
        self.init(
            mid: mid, thread: thread, direction: direction, author: author, timestamp: timestamp, name: name,
            username: username, snippet: snippet, highlights: highlights)
    }
}
