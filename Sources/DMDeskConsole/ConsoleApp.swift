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

/// The console: one input loop that owns the terminal and the socket. Single-threaded by design. What keys and
/// replies do is `ConsoleModel`'s business; the controller reads the keys and the socket, hands them to the model,
/// carries out the actions it returns, keeps the requests in flight, and draws the model.
final class ConsoleController {
    let options: ConsoleOptions
    let keyMap = KeyMap.standard
    var model: ConsoleModel
    var screen: Screen!
    var client: ControlClient?
    /// Requests written and not yet answered, by id: their replies go back to the model with the request.
    var pending: [Int64: DaemonRequest] = [:]

    // Drawing's own memory (not the model's): the first visible thread row, so the list scrolls only when the
    // selection would leave the screen, and the laid-out messages.
    var listTop = 0
    var renderCache = MessageRenderCache()

    var quitStatus: Int32? = nil
    var reconnectDelay = 0.25
    var nextReconnectAt = 0.0
    /// When to ask the daemon's `status` again (0: not yet timed; attaching asks anyway).
    var nextStatusAt = 0.0
    static let statusEverySeconds = 60.0
    var signalPipeRead: Int32 = -1
    let decoder = JSONDecoder()

    init(options: ConsoleOptions, client: ControlClient?) {
        self.options = options
        self.client = client
        self.model = ConsoleModel(historyPageSize: options.historyPageSize)
    }

    var screenSize: ScreenSize {
        ScreenSize(rows: screen.rows, cols: screen.cols, hasBanner: Self.banner(for: model.inbox.status) != nil)
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
        screen = Screen(theme: options.theme, hyperlinks: Hyperlink.supported(environment: ProcessInfo.processInfo.environment))
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
        draw()
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
            // The daemon announces changes, not ages: the status bar's "webhook 3m" is refreshed by asking.
            if client != nil && monotonicSeconds() >= nextStatusAt {
                if nextStatusAt > 0 { send(.status) }
                nextStatusAt = monotonicSeconds() + Self.statusEverySeconds
            }
            if dirty && quitStatus == nil { draw() }
        }
        return quitStatus ?? 0
    }

    /// Runs keys through the input step. A resize is the terminal's, not the model's: it is applied between the keys
    /// before and after it, so each key sees the size it was typed at.
    func handleKeys(_ keys: [Key]) {
        var rest = keys[...]
        while !rest.isEmpty && quitStatus == nil {
            let run = rest.prefix { $0 != .resize }
            rest = rest.dropFirst(run.count)
            if !run.isEmpty { carryOut(model.handle(Array(run), screen: screenSize, keyMap: keyMap)) }
            if rest.first == .resize {
                screen.handleResize()
                rest = rest.dropFirst()
            }
        }
    }

    /// Draws the model, then lets it keep what drawing settled (the conversation's scroll position).
    func draw() {
        if let placement = render() { carryOut(model.conversationDrawn(placement)) }
    }

    func carryOut(_ actions: [ConsoleAction]) {
        for action in actions {
            switch action {
            case .request(let request): send(request)
            case .quit(let status): quitStatus = quitStatus ?? status
            case .bell: if options.bell { screen.bell() }
            case .editDraft(let thread):
                let draft = model.drafts[thread]?.text ?? ""
                let result = screen.suspended { ExternalEditor(environment: ProcessInfo.processInfo.environment).edit(draft) }
                model.editorFinished(thread: thread, result)
            case .copyToClipboard(let text):
                let shown = Sanitizer.visible(text, newlines: .space)
                model.inbox.notice = screen.copyToClipboard(text)
                    ? Notice("copied to your clipboard: \(shown)", isError: false)
                    : Notice("this terminal takes no OSC 52 (DMDESK_HYPERLINKS=1 forces it); the link: \(shown)", isError: true)
            }
        }
    }

    private func pollTimeoutMilliseconds() -> Int32 {
        var timeout = 30_000.0  // relative times ("5m") stay current
        if client == nil { timeout = min(timeout, max(0, (nextReconnectAt - monotonicSeconds()) * 1000)) }
        if let notice = model.inbox.notice {
            let expiresIn = Double(notice.at + noticeLifetime(notice) - nowMillis())
            timeout = min(timeout, max(0, expiresIn))
        }
        return Int32(timeout.rounded(.up))
    }

    private func noticeLifetime(_ notice: Notice) -> EpochMillis { notice.isError ? 15_000 : 6_000 }

    private func expireNotice() -> Bool {
        guard let notice = model.inbox.notice, nowMillis() >= notice.at + noticeLifetime(notice) else { return false }
        model.inbox.notice = nil
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
        reconnectDelay = 0.25
        pending.removeAll()
        carryOut(model.connected(hello: client.hello))
    }

    func attemptReconnect() {
        do {
            client = try ControlClient.connect(path: options.socketPath, timeout: 2)
            let wasReconnecting = model.inbox.connection != .connecting
            didConnect()
            if wasReconnecting { model.inbox.notice = Notice("reconnected to the daemon", isError: false) }
        } catch {
            let attempt: Int
            if case .reconnecting(let n) = model.inbox.connection { attempt = n + 1 } else { attempt = 1 }
            model.inbox.connection = .reconnecting(attempt: attempt)
            nextReconnectAt = monotonicSeconds() + reconnectDelay
            reconnectDelay = min(reconnectDelay * 2, 2.0)
        }
    }

    func connectionLost(reason: String?) {
        client?.close()
        client = nil
        let unanswered = pending.values
        pending.removeAll()
        model.connectionLost(unanswered: unanswered, reason: reason)
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
        var actions: [ConsoleAction] = []
        var bell = false
        var markRead: Set<String> = []
        for raw in rawLines {
            if let handled = decodeLargeReply(raw) { actions += handled; continue }
            guard let line = ServerLine.read(raw) else { continue }
            if line.type == "ok" || line.type == "error", let id = ControlClient.replyId(line) {
                if let request = pending.removeValue(forKey: id) { actions += model.replied(line, to: request) }
                continue
            }
            if line.type == "error", line.error?.code == "overflow" {
                model.inbox.notice = Notice("fell behind the daemon; catching up…", isError: true)
            }
            let outcome = model.inbox.apply(line)
            if outcome.ringBell { bell = true }
            if let thread = outcome.markRead { markRead.insert(thread) }
        }
        actions += markRead.map { .request(.markRead(thread: $0)) }
        if bell { actions.append(.bell) }
        carryOut(actions)
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
    /// than through `JSONValue` (several times faster for 10,000 threads). Returns nil if not handled.
    private func decodeLargeReply(_ raw: Data) -> [ConsoleAction]? {
        guard raw.count > 4096, let head = try? decoder.decode(ReplyHead.self, from: raw), head.type == "ok",
              let id = head.id?.int64Value, let request = pending[id]
        else { return nil }
        switch request {
        case .threads(let limit):
            guard let reply = try? decoder.decode(TypedReply<ThreadsResult>.self, from: raw) else { return nil }
            pending[id] = nil
            return model.threadsArrived(reply.result.threads, limit: limit)
        case .history(let thread, _, _):
            guard let reply = try? decoder.decode(TypedReply<HistoryResult>.self, from: raw) else { return nil }
            pending[id] = nil
            model.historyArrived(thread: thread, reply.result.messages, steps: reply.result.steps ?? [])
            return []
        default:
            return nil
        }
    }

    /// Writes a request and remembers it for its reply. A request that cannot be written is handed back to the model.
    func send(_ request: DaemonRequest) {
        guard let client else {
            model.inbox.notice = Notice(ConsoleModel.notConnected, isError: true)
            model.requestNotSent(request)
            return
        }
        do {
            let id = try client.sendRequest(request.controlRequest)
            pending[id] = request
        } catch {
            connectionLost(reason: "connection lost: \(error.description)")
            model.requestNotSent(request)
        }
    }
}
