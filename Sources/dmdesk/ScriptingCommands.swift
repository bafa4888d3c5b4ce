import ArgumentParser
import DMDeskCore
import Foundation

/// Exit statuses every scripting command shares.
enum ScriptExit {
    static let daemonError: Int32 = 1
    static let usage: Int32 = 2
    static let noDaemon: Int32 = 3
}

/// Options shared by the scripting commands: where the daemon is, and whether to print JSON.
struct ScriptOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false

    func connect() -> ControlClient {
        let config: DMDeskConfig
        do { config = try global.load() } catch { fail("\(error)", code: ScriptExit.usage) }
        do {
            return try ControlClient.connect(path: config.socketPath, timeout: 3)
        } catch {
            fail("\(error)", code: ScriptExit.noDaemon)
        }
    }

    /// Sends one request and returns its result, exiting 1 with the daemon's message on an error reply.
    func call(_ request: ControlRequest) -> JSONValue {
        let client = connect()
        defer { client.close() }
        do {
            return try client.request(request, timeout: 30)
        } catch ControlClientError.server(let error) {
            fail(error.message, code: ScriptExit.daemonError)
        } catch {
            fail("\(error)", code: ScriptExit.noDaemon)
        }
    }

    func printJSON(_ value: JSONValue) {
        print(value.encodedString())
    }

    /// The answer to a request that queues an outbox row: the result as JSON, or "queued <what> <id> (<status>)".
    func printQueued(_ result: JSONValue, as what: String) {
        if json { return printJSON(result) }
        let out = try? result["outbound"]?.decode(OutboundView.self)
        print("queued \(what) \(out?.id ?? 0) (\(out?.status.rawValue ?? "?"))")
    }
}

enum Render {
    static func time(_ ms: EpochMillis?) -> String {
        guard let ms else { return "-" }
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// Untrusted text printed to a terminal: control characters become visible escapes.
    static func safe(_ text: String?) -> String {
        guard let text else { return "" }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 && scalar != "\n" || (0x7f...0x9f).contains(scalar.value) {
                out += scalar.value == 0x1b ? "␛" : String(format: "\\u{%x}", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func thread(_ t: ThreadSummary) -> String {
        let badge = t.mode == .human ? "YOU" : "BOT"
        let preview = safe(t.lastText).replacingOccurrences(of: "\n", with: " ")
        var status = t.status.rawValue
        if t.status == .snoozed { status += t.snoozedUntil.map { " until " + time($0) } ?? " until reply" }
        return "\(t.id)\t\(safe(t.displayName))\t\(badge)\t\(status)\tunread=\(t.unread)\t\(time(t.lastAt))\t\(preview.prefix(60))"
    }

    static func message(_ m: MessageView) -> String {
        var line = "\(time(m.timestamp))  \(m.author.rawValue)"
        if let d = m.delivery { line += " [\(d.rawValue)\(m.error.map { ": " + $0 } ?? "")]" }
        line += ": " + (m.deleted ? "(\(unsentMessageLabel))" : safe(m.text ?? ""))
        if let kind = m.kind, kind != .text { line += " <\(kind.rawValue)>" }
        for a in m.attachments { line += " [\(a.type)] \(a.url ?? "")" }
        if !m.reactions.isEmpty { line += "  (" + m.reactions.joined(separator: ", ") + ")" }
        return line + "  {\(m.id)}"
    }
}

struct ThreadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "threads", abstract: "List conversations, most recent first.")
    @OptionGroup var script: ScriptOptions
    @Option(help: "Only threads in this mode: auto or human.") var mode: ThreadMode?
    @Option(help: "Only threads with this status: open, resolved or snoozed.") var status: ThreadStatus?
    @Flag(help: "Only threads with unread messages.") var unread = false
    @Option(help: "Only threads whose name, username, id or last message contains this text.") var search: String?

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: .threads, mode: mode, status: status, unread: unread, search: search))
        if script.json { return script.printJSON(result) }
        let threads = (try? result["threads"]?.decode([ThreadSummary].self)) ?? []
        for t in threads { print(Render.thread(t)) }
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Print a conversation, oldest first.")
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The thread (the customer's Instagram id).") var thread: String
    @Option(help: "How many messages (default 50).") var limit = 50

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: .history, thread: thread, limit: limit))
        if script.json { return script.printJSON(result) }
        for m in (try? result["messages"]?.decode([MessageView].self)) ?? [] { print(Render.message(m)) }
    }
}

struct SendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send a DM as an operator (takes the thread over from the bot).",
        discussion: """
            Sends a text, media by URL (--attach), or both: the text first, then the media, as two messages. \
            Instagram fetches the media from the URL itself, so it must be public. Waits for Instagram's answer \
            (--wait) and exits 1 with the reason if it refused (e.g. an unsupported format, a file too large, \
            a URL it could not fetch).
            """)
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The thread (the customer's Instagram id).") var thread: String
    @Argument(help: "The text (at most 1000 UTF-8 bytes); may be left out with --attach.") var text: String?
    @Option(help: ArgumentHelp("Send the image, video, audio or file at this http(s) URL.", valueName: "url")) var attach: String?
    @Option(help: "What --attach is: image, video, audio or file (default: guessed from the URL's extension).") var type: AttachmentKind?
    @Option(help: ArgumentHelp("Seconds to wait for Instagram's answer (0: return once queued).", valueName: "seconds"))
    var wait: Double = 30

    func validate() throws {
        let text = self.text ?? ""
        if text.utf8.count > maxMessageBytes {
            throw ValidationError("the text is \(text.utf8.count) bytes; Instagram allows \(maxMessageBytes)")
        }
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && attach == nil {
            throw ValidationError("give a text to send, --attach URL, or both")
        }
        if type != nil && attach == nil { throw ValidationError("--type describes --attach; give --attach URL too") }
        if let attach, case .failure(let problem) = OutgoingAttachment.make(url: attach, type: type) {
            throw ValidationError(problem.message)
        }
        if !(wait >= 0 && wait <= 3600) { throw ValidationError("--wait takes 0 to 3600 seconds") }
    }

    func run() throws {
        let attachment = attach.flatMap { try? OutgoingAttachment.make(url: $0, type: type).get() }
        let request = ControlRequest(id: 1, type: .send, thread: thread, text: text, attachment: attachment)
        guard wait > 0 else { return script.printQueued(script.call(request), as: "outbound") }
        let client = script.connect()
        defer { client.close() }
        do {
            // Subscribed first, so no outcome of the rows about to be queued can be missed.
            _ = try client.request(ControlRequest(id: 1, type: .subscribe), timeout: 30)
            let result = try client.request(request, timeout: 30)
            let queued = ((try? result["outbounds"]?.decode([OutboundView].self))
                ?? (try? result["outbound"]?.decode(OutboundView.self)).map { [$0] }) ?? []
            let settled = try outcomes(of: queued.map(\.id), on: client)
            report(queued: queued, settled: settled)
        } catch ControlClientError.server(let error) {
            fail(error.message, code: ScriptExit.daemonError)
        } catch {
            fail("\(error)", code: ScriptExit.noDaemon)
        }
    }

    /// Follows `outbound.updated` until every row is sent or failed, or `wait` runs out.
    private func outcomes(of ids: [Int64], on client: ControlClient) throws -> [Int64: OutboundView] {
        var settled: [Int64: OutboundView] = [:]
        let deadline = Date().addingTimeInterval(wait)
        while settled.count < ids.count {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { break }
            var pfd = pollfd(fd: client.fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Int32(min(left, 1) * 1000) + 1)
            for line in try client.readAvailable() where line.event == EventType.outboundUpdated {
                guard let view = try? line.data?.decode(OutboundView.self), ids.contains(view.id), view.status != .pending
                else { continue }
                settled[view.id] = view
            }
        }
        return settled
    }

    /// One line per row; exits 1 when Instagram refused one (its reason on stderr).
    private func report(queued: [OutboundView], settled: [Int64: OutboundView]) {
        if script.json {
            script.printJSON(["outbound": .array(queued.map { .from(settled[$0.id] ?? $0) })])
        }
        var failed: [String] = []
        for row in queued {
            let what = row.attachment.map { "\($0.type.rawValue) \($0.url)" } ?? "text"
            let now = settled[row.id] ?? row
            switch now.status {
            case .sent: if !script.json { print("sent \(what) (outbound \(row.id))") }
            case .pending: if !script.json { print("queued \(what) (outbound \(row.id)); still sending, the outbox keeps trying") }
            case .failed: failed.append("\(what) not sent (outbound \(row.id)): \(now.error ?? "refused")")
            }
        }
        if !failed.isEmpty { fail(failed.joined(separator: "\ndmdesk: "), code: ScriptExit.daemonError) }
    }
}

extension AttachmentKind: ExpressibleByArgument {}

/// takeover / release / resolve / reopen share one shape: a thread in, the thread out.
struct ThreadActionCommand<Action: ThreadAction>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Action.name, abstract: Action.abstract)
    }
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The thread (the customer's Instagram id).") var thread: String

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: Action.request, thread: thread))
        if script.json { return script.printJSON(result) }
        if let t = try? result["thread"]?.decode(ThreadSummary.self) { print(Render.thread(t)) }
    }
}

protocol ThreadAction {
    static var name: String { get }
    static var abstract: String { get }
    static var request: ControlRequestType { get }
}
enum TakeoverAction: ThreadAction {
    static let name = "takeover", abstract = "Take a thread over from the bot.", request = ControlRequestType.takeover
}
enum ReleaseAction: ThreadAction {
    static let name = "release", abstract = "Hand a thread back to the bot.", request = ControlRequestType.release
}
enum ResolveAction: ThreadAction {
    static let name = "resolve", abstract = "Mark a thread resolved.", request = ControlRequestType.resolve
}

struct NotifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notify", abstract: "Send a WhatsApp message to the manager.")
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The text.") var text: String
    @Option(help: "The thread this is about.") var thread: String?

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: .notify, thread: thread, text: text))
        script.printQueued(result, as: "notification")
    }
}

struct ReactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "react", abstract: "React to a message (Instagram supports \"love\").")
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The thread.") var thread: String
    @Argument(help: "The message id (mid) to react to.") var mid: String
    @Argument(help: "The reaction; empty removes ours.") var reaction = "love"

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: .react, thread: thread, mid: mid, reaction: reaction))
        script.printQueued(result, as: "reaction")
    }
}

struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Print events as they happen (Ctrl-C stops).")
    @OptionGroup var script: ScriptOptions
    @Option(help: "Replay events after this sequence number first.") var since: Int64?

    func run() throws {
        let client = script.connect()
        do {
            _ = try client.request(ControlRequest(id: 1, type: .subscribe, since: since), timeout: 30)
        } catch ControlClientError.server(let error) {
            fail(error.message, code: ScriptExit.daemonError)
        } catch {
            fail("\(error)", code: ScriptExit.noDaemon)
        }
        while true {
            var pfd = pollfd(fd: client.fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 1000)
            let lines: [ServerLine]
            do { lines = try client.readAvailable() } catch {
                fail("the daemon closed the connection (\(error))", code: ScriptExit.noDaemon)
            }
            for line in lines where line.type == "event" || line.type == "error" {
                if script.json {
                    print(JSONValue.from(line).encodedString())
                } else if line.type == "error" {
                    FileHandle.standardError.write(Data("dmdesk: \(line.error?.message ?? "error")\n".utf8))
                } else {
                    let text = line.data?["text"]?.stringValue.map { " " + Render.safe($0) } ?? ""
                    print("#\(line.seq ?? 0) \(line.event ?? "?") \(line.thread ?? "-")\(text)")
                }
                fflushStdout()
            }
        }
    }
}

extension ThreadMode: ExpressibleByArgument {}
extension ThreadStatus: ExpressibleByArgument {}

/// `tail` output is read live by other programs: flush each line.
func fflushStdout() {
    fflush(nil)
}
