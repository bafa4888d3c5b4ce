import ArgumentParser
import DMDeskCore
import Foundation

/// `dmdesk search WORDS`: every conversation's messages, through the daemon's full-text index.
struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find messages by their words, across every conversation or in one.",
        discussion: """
            Every word must appear (in any order); the last also matches as a prefix ("hood" finds "hoodie"). \
            Case and accents do not matter. What you type is taken as words, never as search syntax. Newest \
            first: time, thread, who, and the words around the match (the matches in bold on a terminal).
            """)

    @OptionGroup var script: ScriptOptions
    @Argument(help: "The words to look for.") var words: [String]
    @Option(help: "Search only this thread (the customer's Instagram id).") var thread: String?
    @Option(help: "How many messages at most (1-500).") var limit = 50

    func validate() throws {
        if MessageSearch.fts5(words.joined(separator: " ")) == nil { throw ValidationError("give at least one word to look for") }
        if !(1...500).contains(limit) { throw ValidationError("--limit takes 1 to 500") }
    }

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: .search, thread: thread, text: words.joined(separator: " "), limit: limit))
        if script.json { return script.printJSON(result) }
        let hits = result["hits"]?.arrayValue?.compactMap(SearchHit.init(json:)) ?? []
        let bold = isatty(STDOUT_FILENO) == 1
        for hit in hits {
            let who = hit.name ?? hit.username.map { "@" + $0 } ?? hit.thread
            print("\(Render.time(hit.timestamp))  \(hit.thread)  \(Render.safe(who))  \(hit.author)  \(Self.marked(hit, bold: bold))")
        }
        if hits.isEmpty { FileHandle.standardError.write(Data("no messages match\n".utf8)) }
    }

    /// The snippet made safe for a terminal, with its matches in bold when printing to one.
    static func marked(_ hit: SearchHit, bold: Bool) -> String {
        let scalars = Array(hit.snippet.unicodeScalars)
        var out = ""
        var at = 0
        for range in hit.highlights where range.start >= at && range.start + range.length <= scalars.count {
            out += Render.safe(String(String.UnicodeScalarView(scalars[at..<range.start])))
            let match = Render.safe(String(String.UnicodeScalarView(scalars[range.start..<range.start + range.length])))
            out += bold ? "\u{1B}[1m" + match + "\u{1B}[22m" : match
            at = range.start + range.length
        }
        return (out + Render.safe(String(String.UnicodeScalarView(scalars[at...])))).replacingOccurrences(of: "\n", with: " ")
    }
}
