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
        return "\(t.id)\t\(safe(t.displayName))\t\(badge)\t\(t.status.rawValue)\tunread=\(t.unread)\t\(time(t.lastAt))\t\(preview.prefix(60))"
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
        commandName: "send", abstract: "Send a DM as an operator (takes the thread over from the bot).")
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The thread (the customer's Instagram id).") var thread: String
    @Argument(help: "The text (at most 1000 UTF-8 bytes).") var text: String

    func validate() throws {
        if text.utf8.count > maxMessageBytes {
            throw ValidationError("the text is \(text.utf8.count) bytes; Instagram allows \(maxMessageBytes)")
        }
    }

    func run() throws {
        let result = script.call(ControlRequest(id: 1, type: .send, thread: thread, text: text))
        script.printQueued(result, as: "outbound")
    }
}

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
