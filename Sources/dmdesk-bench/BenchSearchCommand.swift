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
