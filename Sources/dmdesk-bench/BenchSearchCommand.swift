import ArgumentParser
import DMDeskCore
import Foundation
import GRDB

/// Times full-text search on a populated data directory with its daemon running: `search` over the control socket
/// (what `dmdesk search` and the console wait for) and the same FTS5 query on a connection of its own, against the
/// reference, a `LIKE '%word%'` scan of the same table on the same connection, in the same run. Prints one
/// `key=value` line a metric (milliseconds).
struct BenchSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "search", abstract: "Time search against a LIKE scan.")

    @Option(help: "The daemon's control socket.") var socket: String
    @Option(name: .customLong("data"), help: "The populated data directory (read on a connection of this tool's own).")
    var dataDir: String
    @Option(help: "Searches per query in each of the three ways.") var runs: Int = 20

    /// What operators look up: one word seen often, one seen once in ~700 messages, two words, a prefix while
    /// typing, an order number, and nothing at all.
    static let queries = ["shipping", "leather", "size chart", "deliv", "48213", "walrus"]

    func run() throws {
        let client = try ControlClient.connect(path: socket, timeout: 5)
        defer { client.close() }
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: dataDir + "/dmdesk.sqlite", configuration: config)
        var socketTimes: [Double] = [], ftsTimes: [Double] = [], likeTimes: [Double] = []
        var matches: [String] = []
        for query in Self.queries {
            var hits = 0
            for i in 0..<runs {
                var t = benchMonotonicSeconds()
                let answer = try client.request(ControlRequest(id: .number(Double(i)), type: .search, text: query, limit: 50), timeout: 30)
                socketTimes.append((benchMonotonicSeconds() - t) * 1000)
                hits = answer["hits"]?.arrayValue?.count ?? 0

                t = benchMonotonicSeconds()
                _ = try db.read { db in
                    try Row.fetchAll(
                        db, sql: """
                            SELECT m.mid FROM message_search JOIN message_search_ids i ON i.id = message_search.rowid
                            JOIN messages m ON m.mid = i.mid WHERE message_search MATCH ? ORDER BY message_search.rowid DESC LIMIT 50
                            """, arguments: [MessageSearch.fts5(query)!])
                }
                ftsTimes.append((benchMonotonicSeconds() - t) * 1000)

                // The reference: what a search without the index does (every word somewhere in the text).
                let words = query.split(separator: " ").map { "%" + $0 + "%" }
                t = benchMonotonicSeconds()
                _ = try db.read { db in
                    try Row.fetchAll(
                        db,
                        sql: "SELECT mid FROM messages WHERE " + words.map { _ in "text LIKE ?" }.joined(separator: " AND ")
                            + " ORDER BY timestamp DESC LIMIT 50",
                        arguments: StatementArguments(words))
                }
                likeTimes.append((benchMonotonicSeconds() - t) * 1000)
            }
            matches.append("\(query.replacingOccurrences(of: " ", with: "+")):\(hits)")
        }
        let total = try db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0 }
        socketTimes.sort()
        ftsTimes.sort()
        likeTimes.sort()
        func line(_ name: String, _ sorted: [Double]) {
            print(String(format: "%@_p50=%.3f %@_p99=%.3f %@_max=%.3f", name, benchPercentile(sorted, 50), name,
                         benchPercentile(sorted, 99), name, sorted.last ?? 0))
        }
        line("socket", socketTimes)
        line("fts", ftsTimes)
        line("like", likeTimes)
        print("messages=\(total) samples=\(socketTimes.count) hits=\(matches.joined(separator: ","))")
    }
}

/// Times a search in the console, as the operator sees it: from `S`, the words and Enter sent to the pane until its
/// results box (or the "no messages match" line) is on screen; then any key closes it. Prints
/// `console_p50=… console_p99=… console_max=…` (milliseconds) and writes each sample to `--out`.
struct BenchConsoleSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "search-screen", abstract: "Time S → results on screen.")

    @Option(name: .customLong("tmux-socket")) var tmuxSocket: String
    @Option(name: .customLong("control-session")) var controlSession: String = "keep"
    @Option(help: "The pane running the console (tmux target).") var target: String
    @Option(help: "Searches per query.") var runs: Int = 20
    @Option(help: "Write samples (ms), one a line.") var out: String
    @Option(name: .customLong("poll-us"), help: "Pause between screen polls (µs).") var pollMicroseconds: Int = 1000

    func run() throws {
        let tmux = try TmuxControl(socketName: tmuxSocket, session: controlSession)
        var samples: [Double] = []
        var timeouts = 0
        for query in BenchSearchCommand.queries {
            for _ in 0..<runs {
                // The typing is not timed: only Enter to the answer drawn, which is what the operator waits for.
                // The prompt starts from the last search's words: Ctrl-U clears them.
                _ = try tmux.command("send-keys -t \(target) S C-u")
                _ = try tmux.command("send-keys -t \(target) -l \(tmuxQuote(query))")
                let start = benchMonotonicSeconds()
                _ = try tmux.command("send-keys -t \(target) Enter")
                var seen = false
                while benchMonotonicSeconds() < start + 10 {
                    let screen = try tmux.capture(target)
                    if screen.contains(where: { $0.contains("with “\(query)”") || $0.contains("no messages match “\(query)”") }) {
                        seen = true
                        break
                    }
                    sleepMicroseconds(pollMicroseconds)
                }
                if seen { samples.append((benchMonotonicSeconds() - start) * 1000) } else { timeouts += 1 }
                // Any key closes the results; a no-match notice needs none. Wait for the box to go.
                _ = try tmux.command("send-keys -t \(target) Escape")
                let closing = benchMonotonicSeconds()
                while benchMonotonicSeconds() < closing + 5,
                      try tmux.capture(target).contains(where: { $0.contains("with “\(query)”") })
                {
                    sleepMicroseconds(pollMicroseconds)
                }
                sleepMicroseconds(20_000)
            }
        }
        try samples.map { String(format: "%.3f", $0) }.joined(separator: "\n").appending("\n").write(toFile: out, atomically: true, encoding: .utf8)
        let sorted = samples.sorted()
        print(String(format: "console_p50=%.3f console_p99=%.3f console_max=%.3f console_timeouts=%d", benchPercentile(sorted, 50),
                     benchPercentile(sorted, 99), sorted.last ?? 0, timeouts))
    }
}
