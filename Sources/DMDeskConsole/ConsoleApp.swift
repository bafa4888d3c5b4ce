import CNcursesw
import DMDeskCore
import Foundation
import Glibc

public struct ConsoleOptions: Sendable {
    /// The daemon's control socket.
    public var socketPath: String
    public var theme: Theme
    /// Ring the terminal bell for new inbound messages in threads a human is handling.
    public var bell: Bool
    /// When the first connection fails: true prints the error and returns 3 (`dmdesk attach`);
    /// false opens the console anyway and keeps reconnecting.
    public var requireDaemon: Bool
    /// Messages fetched per `history` request.
    public var historyPageSize: Int

    public init(socketPath: String, theme: Theme = Theme.fallbackDefault, bell: Bool = true,
                requireDaemon: Bool = true, historyPageSize: Int = 200)
    {
        self.socketPath = socketPath
        self.theme = theme
        self.bell = bell
        self.requireDaemon = requireDaemon
        self.historyPageSize = historyPageSize
    }
}

public enum ConsoleApp {
    /// Runs the console until the user quits or a signal asks it to stop; the terminal is restored on
    /// every path. Returns the process exit status (0 quit, 3 no daemon, 128+n after signal n).
    public static func run(_ options: ConsoleOptions) -> Int32 {
        var options = options
        if let noColor = ProcessInfo.processInfo.environment["NO_COLOR"], !noColor.isEmpty, options.theme.usesColour {
            options.theme = Theme.fallbackMono
        }
        var firstClient: ControlClient? = nil
        do {
            firstClient = try ControlClient.connect(path: options.socketPath, timeout: 5)
        } catch {
            if options.requireDaemon {
                FileHandle.standardError.write(Data("dmdesk: \(error.description)\n".utf8))
                return 3
            }
        }
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            FileHandle.standardError.write(Data("dmdesk: the console needs a terminal (use `dmdesk threads` etc. for scripts)\n".utf8))
            return 2
        }
        let controller = ConsoleController(options: options, client: firstClient)
        return controller.run()
    }
}

// MARK: - Signals

/// Write end of the self-pipe: signal handlers only write the signal number here, and the input loop
/// picks it up through poll(). (Set once before handlers are installed.)
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1
/// Restores the terminal if the process dies from a crash signal while curses owns it.
nonisolated(unsafe) private var cursesActiveForCrash = false

private func installSignalHandlers() -> [Int32: sighandler_t?] {
    var previous: [Int32: sighandler_t?] = [:]
    for sig in [SIGWINCH, SIGINT, SIGTERM, SIGHUP] {
        previous[sig] = signal(sig) { signo in
            var byte = UInt8(truncatingIfNeeded: signo)
            _ = write(signalPipeWrite, &byte, 1)
        }
    }
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
        previous[sig] = signal(sig) { signo in
            if cursesActiveForCrash { _ = endwin() }  // best effort: leave a usable terminal behind
            signal(signo, SIG_DFL)
            raise(signo)
        }
    }
    return previous
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

// MARK: - Controller

/// What the input is currently for.
enum InputMode: Equatable {
    case browse
    case compose
    case prompt(PromptKind)
    case reactPicker
    case confirmQuit
    case help
}

enum PromptKind: Equatable {
    case filter
    case notify(thread: String?)

    var label: String {
        switch self {
        case .filter: return "Filter: "
        case .notify: return "Notify manager: "
        }
    }
}

/// Why a request was sent, so its reply (or error) can be routed.
enum PendingRequest {
    case subscribe, threads, status
    case history(thread: String)
    case send(thread: String, text: String)
    case threadAction(verb: String, thread: String)
    case markRead(thread: String)
    case notify, react, retry
}

/// The console: one input loop that owns the terminal and the socket. Single-threaded by design.
final class ConsoleController {
    let options: ConsoleOptions
    let keyMap = KeyMap.standard
    var state = ConsoleState()
    var screen: Screen!
    var client: ControlClient?
    var pending: [Int64: PendingRequest] = [:]

    var mode: InputMode = .browse
    /// Drafts per thread, so switching threads never loses text.
    var drafts: [String: LineEditor] = [:]
    var prompt = LineEditor()
    var helpScroll = 0
    /// First visible thread row; the list scrolls only when the selection would leave the screen.
    var listTop = 0
    /// Conversation lines hidden below the bottom edge (0 = following the newest message).
    var conversationScroll = 0
    var lastConversationHeight = 10
    var lastListCapacity = 10
    var renderCache = MessageRenderCache()
    /// Set when the highlighted message moved: the next frame scrolls it into view.
    var keepSelectedMessageVisible = false
    /// Set by PgUp/PgDn: the next frame may need to fetch older history.
    var scrolledByPage = false
    /// The thread list came in as a first page (enough for the screen); the full list is asked for next.
    var threadListIsFirstPage = false
    /// Threads in the first page: a screenful is drawn from these while the rest (10,000 threads are megabytes of
    /// JSON for the daemon to encode) follows.
    static let firstThreadPage = 200

    var quitStatus: Int32? = nil
    var reconnectDelay = 0.25
    var nextReconnectAt = 0.0
    var signalPipeRead: Int32 = -1
    let decoder = JSONDecoder()

    init(options: ConsoleOptions, client: ControlClient?) {
        self.options = options
        self.client = client
    }

    // MARK: Main loop

    func run() -> Int32 {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return 1 }
        signalPipeRead = fds[0]
        signalPipeWrite = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        let previousHandlers = installSignalHandlers()
        screen = Screen(theme: options.theme)
        cursesActiveForCrash = true
        defer {
            screen.end()
            cursesActiveForCrash = false
            for (sig, handler) in previousHandlers { signal(sig, handler) }
            close(fds[0]); close(fds[1])
            signalPipeWrite = -1
            client?.close()
        }

        if client != nil { didConnect() } else { connectionLost(reason: nil) }
        render()
        while quitStatus == nil {
            var pollSet = [
                pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signalPipeRead, events: Int16(POLLIN), revents: 0),
            ]
            if let client, client.fileDescriptor >= 0 {
                pollSet.append(pollfd(fd: client.fileDescriptor, events: Int16(POLLIN), revents: 0))
            }
            let rc = poll(&pollSet, nfds_t(pollSet.count), pollTimeoutMilliseconds())
            if rc < 0 && errno != EINTR { break }

            var dirty = rc == 0  // timeouts refresh relative times and expire notices
            if pollSet[1].revents != 0 { dirty = handleSignals() || dirty }
            if pollSet.count > 2 && pollSet[2].revents != 0 { dirty = readSocket() || dirty }
            if pollSet[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                if pollSet[0].revents & Int16(POLLHUP | POLLERR) != 0 && pollSet[0].revents & Int16(POLLIN) == 0 {
                    quitStatus = 1  // the terminal went away
                    break
                }
                let keys = screen.readKeys()
                if !keys.isEmpty { handleKeys(keys); dirty = true }
            }
            if client == nil && monotonicSeconds() >= nextReconnectAt {
                attemptReconnect()
                dirty = true
            }
            if expireNotice() { dirty = true }
            if dirty && quitStatus == nil { render() }
        }
        return quitStatus ?? 0
    }

    private func pollTimeoutMilliseconds() -> Int32 {
        var timeout = 30_000.0  // relative times ("5m") stay current
        if client == nil { timeout = min(timeout, max(0, (nextReconnectAt - monotonicSeconds()) * 1000)) }
        if let notice = state.notice {
            let expiresIn = Double(notice.at + noticeLifetime(notice) - nowMillis())
            timeout = min(timeout, max(0, expiresIn))
        }
        return Int32(timeout.rounded(.up))
    }

    private func noticeLifetime(_ notice: Notice) -> EpochMillis { notice.isError ? 15_000 : 6_000 }

    private func expireNotice() -> Bool {
        guard let notice = state.notice, nowMillis() >= notice.at + noticeLifetime(notice) else { return false }
        state.notice = nil
        return true
    }

    /// Drains the self-pipe; returns true when the screen needs a redraw.
    private func handleSignals() -> Bool {
        var bytes = [UInt8](repeating: 0, count: 64)
        var resized = false
        while true {
            let n = read(signalPipeRead, &bytes, bytes.count)
            if n <= 0 { break }
            for signo in bytes[0..<n] {
                switch Int32(signo) {
                case SIGWINCH: resized = true
                case let s: quitStatus = 128 + s
                }
            }
        }
        if resized { screen.handleResize() }
        return resized
    }

    // MARK: Socket

    func didConnect() {
        guard let client else { return }
        state.connection = .connected
        state.hello = client.hello
        reconnectDelay = 0.25
        pending.removeAll()
        // Subscribe before asking for the list, so nothing that happens in between is missed.
        send(ControlRequest(id: .null, type: .subscribe, since: state.lastSeq > 0 ? state.lastSeq : nil), as: .subscribe)
        threadListIsFirstPage = send(ControlRequest(id: .null, type: .threads, limit: Self.firstThreadPage), as: .threads)
        send(ControlRequest(id: .null, type: .status), as: .status)
        if let open = state.openThreadID, state.history[open] == nil { requestHistory(open) }
    }

    func attemptReconnect() {
        do {
            client = try ControlClient.connect(path: options.socketPath, timeout: 2)
            let wasReconnecting = state.connection != .connecting
            didConnect()
            if wasReconnecting { state.notice = Notice("reconnected to the daemon", isError: false) }
        } catch {
            let attempt: Int
            if case .reconnecting(let n) = state.connection { attempt = n + 1 } else { attempt = 1 }
            state.connection = .reconnecting(attempt: attempt)
            nextReconnectAt = monotonicSeconds() + reconnectDelay
            reconnectDelay = min(reconnectDelay * 2, 2.0)
        }
    }

    func connectionLost(reason: String?) {
        client?.close()
        client = nil
        for (_, request) in pending {
            if case .send(let thread, let text) = request, drafts[thread]?.isEmpty ?? true {
                drafts[thread] = LineEditor(text)
                state.notice = Notice("not sent (connection lost); your text is back in the draft", isError: true)
            }
        }
        pending.removeAll()
        // Anything marked as loading will never get its reply now.
        state.history = state.history.filter { $0.value != .loading }
        if case .reconnecting = state.connection {} else { state.connection = .reconnecting(attempt: 0) }
        if let reason { state.notice = Notice(reason, isError: true) }
        nextReconnectAt = monotonicSeconds() + reconnectDelay
    }

    /// Reads and applies everything available; returns true if anything changed.
    private func readSocket() -> Bool {
        guard let client else { return false }
        let rawLines: [Data]
        do {
            rawLines = try client.readAvailableRaw()
        } catch {
            connectionLost(reason: nil)
            return true
        }
        var bell = false
        var markRead: Set<String> = []
        for raw in rawLines {
            if decodeLargeReply(raw) { continue }
            guard let line = try? decoder.decode(ServerLine.self, from: raw) else { continue }
            if line.type == "ok" || line.type == "error", let id = ControlClient.replyId(line) {
                handleReply(line, request: pending.removeValue(forKey: id))
                continue
            }
            if line.type == "error", line.error?.code == "overflow" {
                state.notice = Notice("fell behind the daemon; catching up…", isError: true)
            }
            let outcome = state.apply(line)
            if outcome.ringBell { bell = true }
            if let thread = outcome.markRead { markRead.insert(thread) }
        }
        for thread in markRead { send(ControlRequest(id: .null, type: .markRead, thread: thread), as: .markRead(thread: thread)) }
        if bell && options.bell { screen.bell() }
        if client.isClosed { connectionLost(reason: nil) }
        return !rawLines.isEmpty
    }

    private struct ReplyHead: Decodable {
        var type: String
        var id: JSONValue?
    }

    private struct TypedReply<Result: Decodable>: Decodable {
        var result: Result
    }

    private struct ThreadsResult: Decodable { var threads: [ThreadSummary] }
    private struct HistoryResult: Decodable {
        var messages: [MessageView]
        var steps: [AgentStepView]?
    }

    /// `threads` and `history` replies can be megabytes: decode them straight into model types rather
    /// than through `JSONValue` (several times faster for 10,000 threads). Returns true if handled.
    private func decodeLargeReply(_ raw: Data) -> Bool {
        guard raw.count > 4096, let head = try? decoder.decode(ReplyHead.self, from: raw), head.type == "ok",
              let id = head.id?.int64Value, let purpose = pending[id]
        else { return false }
        switch purpose {
        case .threads:
            guard let reply = try? decoder.decode(TypedReply<ThreadsResult>.self, from: raw) else { return false }
            pending[id] = nil
            threadsArrived(reply.result.threads)
            return true
        case .history(let thread):
            guard let reply = try? decoder.decode(TypedReply<HistoryResult>.self, from: raw) else { return false }
            pending[id] = nil
            state.loadHistory(
                thread: thread, reply.result.messages, steps: reply.result.steps ?? [], limit: options.historyPageSize)
            return true
        default:
            return false
        }
    }

    @discardableResult
    func send(_ request: ControlRequest, as purpose: PendingRequest) -> Bool {
        guard let client else {
            state.notice = Notice("not connected to the daemon — reconnecting…", isError: true)
            return false
        }
        do {
            let id = try client.sendRequest(request)
            pending[id] = purpose
            return true
        } catch {
            connectionLost(reason: "connection lost: \(error.description)")
            return false
        }
    }

    private func handleReply(_ line: ServerLine, request: PendingRequest?) {
        guard let request else { return }
        if line.type == "error" {
            let message = line.error?.message ?? "failed"
            switch request {
            case .send(let thread, let text):
                if drafts[thread]?.isEmpty ?? true { drafts[thread] = LineEditor(text) }
                state.notice = Notice("send refused: \(message)", isError: true)
            case .threadAction(let verb, _): state.notice = Notice("\(verb) failed: \(message)", isError: true)
            case .history(let thread):
                state.history[thread] = .loaded(hasOlder: false)
                state.notice = Notice("could not load history: \(message)", isError: true)
            case .notify: state.notice = Notice("notify refused: \(message)", isError: true)
            case .react: state.notice = Notice("reaction refused: \(message)", isError: true)
            case .retry: state.notice = Notice("retry refused: \(message)", isError: true)
            case .subscribe: state.notice = Notice("subscribe failed: \(message)", isError: true)
            case .threads: state.notice = Notice("could not list threads: \(message)", isError: true)
            case .status, .markRead: break
            }
            return
        }
        let result = line.result ?? .null
        switch request {
        case .subscribe:
            if let last = result["last_seq"]?.int64Value, state.lastSeq == 0 { state.lastSeq = last }
        case .threads:
            if let list = try? result["threads"]?.decode([ThreadSummary].self) { threadsArrived(list) }
        case .status:
            if let status = try? result["status"]?.decode(DaemonStatus.self) { state.status = status }
        case .history(let thread):
            let list = (try? result["messages"]?.decode([MessageView].self)) ?? []
            let steps = (try? result["steps"]?.decode([AgentStepView].self)) ?? []
            state.loadHistory(thread: thread, list, steps: steps, limit: options.historyPageSize)
        case .send, .notify:
            if let outbound = try? result["outbound"]?.decode(OutboundView.self) {
                state.applyOutbound(outbound)
                if case .notify = request { state.notice = Notice("manager notification queued", isError: false) }
            }
        case .threadAction(let verb, _):
            if let summary = try? result["thread"]?.decode(ThreadSummary.self) { state.upsertThread(summary) }
            state.notice = Notice(verb == "take over" ? "you have this thread — r to reply" : "\(verb): done", isError: false)
        case .markRead:
            if let summary = try? result["thread"]?.decode(ThreadSummary.self) { state.upsertThread(summary) }
        case .react: state.notice = Notice("reaction sent", isError: false)
        case .retry: state.notice = Notice("retrying…", isError: false)
        }
    }

    /// A `threads` reply. After the first page, asks for the whole list: only now, so the full list can never
    /// arrive before (and be replaced by) the page.
    private func threadsArrived(_ list: [ThreadSummary]) {
        state.loadThreads(list)
        if let open = state.openThreadID { state.open(thread: open) }
        if threadListIsFirstPage {
            threadListIsFirstPage = false
            if list.count >= Self.firstThreadPage { send(ControlRequest(id: .null, type: .threads), as: .threads) }
        }
    }

    func requestHistory(_ thread: String, before: EpochMillis? = nil) {
        state.history[thread] = .loading
        send(ControlRequest(id: .null, type: .history, thread: thread, before: before, limit: options.historyPageSize),
             as: .history(thread: thread))
    }
}
