import DMDeskCore
import Foundation
import Glibc
import Logging

/// One attached client: a reader thread that frames and dispatches requests, and a writer thread
/// that is the only thing writing to the socket (so replies and events never interleave within a
/// line). Everything between them is bounded: at most `maxOutstandingRequests` replies pending,
/// at most `subscriberCapacity` live events queued, and one encoded batch in flight.
final class ClientConnection: @unchecked Sendable {
    private enum Command {
        case reply(ServerLine)
        case subscribe(id: JSONValue, since: Int64?)
    }

    private enum FlushOutcome {
        case done, peerGone, stopping, overflowed, timedOut
    }

    struct Hooks: Sendable {
        var finished: @Sendable (ClientConnection) -> Void
        var overflowed: @Sendable () -> Void
    }

    let number: Int
    private let socketFD: Int32
    private let wakePipe: WakePipe
    private let service: any ControlService
    private let bus: EventBus
    private let options: ControlServer.Options
    private let logger: Logger
    private let hooks: Hooks
    private let threads: DispatchGroup

    // Shared between the reader, the writer, request tasks and the server; guarded by `condition`.
    private let condition = NSCondition()
    private var commands: [Command] = []
    private var outstanding = 0
    private var inputClosed = false
    private var closing = false
    private var socketOpen = true
    private var runningThreads = 2

    // Writer thread only.
    private var subscription: EventSubscription?
    /// Live events at or below this seq were already sent (by replay, or the client had them).
    private var replayedThrough = Int64.min
    private var out = OutboundBuffer()
    private lazy var sendBudget = SendBudget(socket: socketFD)

    /// The caller must `threads.enter()` twice before this returns control to anyone who may
    /// `wait` on the group; `start()` leaves it twice.
    init(
        number: Int, socketFD: Int32, wakePipe: WakePipe, service: any ControlService, bus: EventBus,
        options: ControlServer.Options, logger: Logger, threads: DispatchGroup, hooks: Hooks
    ) {
        self.number = number
        self.socketFD = socketFD
        self.wakePipe = wakePipe
        self.service = service
        self.bus = bus
        self.options = options
        var logger = logger
        logger[metadataKey: "client"] = "\(number)"
        self.logger = logger
        self.threads = threads
        self.hooks = hooks
    }

    func start() {
        // read() and write() block: each client has a reader and a writer thread (numbered modulo 10,000 to fit 15 bytes).
        Thread.start(named: "dmdesk-rd-\(number % 10_000)", stackSize: 1 << 20) { [self] in
            runReader()
            threadFinished()
            threads.leave()
        }
        Thread.start(named: "dmdesk-wr-\(number % 10_000)", stackSize: 1 << 20) { [self] in
            runWriter()
            threadFinished()
            threads.leave()
        }
    }

    /// Ends the connection from outside (server stop): unblocks both threads.
    func shutdown() {
        beginClosing()
    }

    // MARK: - Reader

    private func runReader() {
        var framer = LineFramer(maxLineBytes: options.maxLineBytes)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        reading: while true {
            let count = chunk.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }  // EOF, reset, or our own shutdown()
            let frames = chunk.withUnsafeBytes { framer.push(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            for frame in frames {
                // Backpressure: a client that sends faster than it reads waits here, not in memory.
                guard reserveReplySlot() else { break reading }
                switch frame {
                case .tooLong:
                    enqueue(.reply(.error(id: .null, ControlError(
                        code: "line_too_long",
                        message: "line exceeds \(options.maxLineBytes) bytes and was discarded"))))
                case .line(let bytes):
                    dispatch(bytes)
                }
            }
        }
        condition.lock()
        inputClosed = true
        condition.unlock()
        wakePipe.wake()
    }

    private func reserveReplySlot() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while outstanding >= options.maxOutstandingRequests && !closing { condition.wait() }
        guard !closing else { return false }
        outstanding += 1
        return true
    }

    private func dispatch(_ line: [UInt8]) {
        switch ControlLine.decodeRequest(line) {
        case .failure(let rejection):
            enqueue(.reply(.error(id: rejection.id, rejection.error)))
        case .success(let request) where request.type == ControlRequestType.subscribe.rawValue:
            enqueue(.subscribe(id: request.id, since: request.since))
        case .success(let request):
            if let answer = service.answerOnReaderThread(request) {
                switch answer {
                case .success(let result): enqueue(.reply(.ok(id: request.id, result: result)))
                case .failure(let error): enqueue(.reply(.error(id: request.id, error)))
                }
                return
            }
            // Requests run concurrently with each other and with event streaming.
            let service = service
            Task { [self] in
                let reply: ServerLine
                switch await service.handle(request) {
                case .success(let result): reply = .ok(id: request.id, result: result)
                case .failure(let error): reply = .error(id: request.id, error)
                }
                enqueue(.reply(reply))
            }
        }
    }

    private func enqueue(_ command: Command) {
        condition.lock()
        guard !closing else {
            condition.unlock()
            return
        }
        commands.append(command)
        condition.unlock()
        wakePipe.wake()
    }

    // MARK: - Writer

    private func runWriter() {
        defer {
            subscription?.cancel()
            subscription = nil
            beginClosing()
        }
        out.append(ControlLine.encode(service.helloLine()))
        guard proceed(after: flush()) else { return }

        while true {
            guard let batch = takeCommands() else { return }
            for command in batch.commands {
                switch command {
                case .reply(let line):
                    out.append(ControlLine.encode(line))
                case .subscribe(let id, let since):
                    guard proceed(after: flush()) else { return }
                    guard startSubscription(id: id, since: since) else { return }
                }
            }
            if let subscription {
                switch subscription.next(timeout: .zero, maxCount: 512) {
                case .events(let events):
                    for event in events where event.seq > replayedThrough {
                        out.appendEvent(ControlLine.encode(.event(event)), seq: event.seq)
                    }
                case .overflowed:
                    dropForOverflow()
                    return
                case .cancelled:
                    return
                case .timedOut:
                    break
                }
            }
            if out.hasPending {
                guard proceed(after: flush()) else { return }
                continue
            }
            // A scripting client that half-closed after its requests is done once they are answered.
            if batch.inputClosed && batch.outstanding == 0 && subscription == nil { return }
            guard waitForWork() else { return }
        }
    }

    private func takeCommands() -> (commands: [Command], inputClosed: Bool, outstanding: Int)? {
        condition.lock()
        defer { condition.unlock() }
        guard !closing else { return nil }
        let taken = commands
        commands = []
        if !taken.isEmpty {
            outstanding -= taken.count
            condition.broadcast()
        }
        return (taken, inputClosed, outstanding)
    }

    /// Sleeps until something is enqueued, events arrive, or the peer hangs up.
    private func waitForWork() -> Bool {
        var fds = [
            pollfd(fd: wakePipe.readFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socketFD, events: 0, revents: 0),  // POLLHUP/POLLERR are always reported
        ]
        while poll(&fds, 2, -1) < 0 {
            if errno != EINTR { return false }
        }
        if fds[1].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 { return false }
        wakePipe.drain()
        return true
    }

    private func proceed(after outcome: FlushOutcome) -> Bool {
        switch outcome {
        case .done:
            return true
        case .overflowed:
            dropForOverflow()
            return false
        case .peerGone, .stopping, .timedOut:
            return false
        }
    }

    /// Writes everything pending with non-blocking sends; while the socket is full it waits in
    /// poll() together with the wake pipe, so an overflow or a stop is noticed even if the client
    /// never reads again. Ordinary flushes leave `SendBudget`'s reserve free; the final flush of a
    /// dropped client (`watchOverflow: false`) is what that room is for.
    private func flush(deadline: ContinuousClock.Instant? = nil, watchOverflow: Bool = true) -> FlushOutcome {
        while out.hasPending {
            if isClosing { return .stopping }
            var count = out.pendingCount
            if watchOverflow, let budget = sendBudget.available(socketFD) {
                count = out.sendableCount(within: budget, tailAllowance: SendBudget.tailAllowance)
            }
            let result = count > 0 ? out.withPending(limit: count) { UnixSocket.sendSome(socketFD, $0) } : .wouldBlock
            switch result {
            case .sent(let count):
                out.advance(by: count)
            case .closed:
                return .peerGone
            case .wouldBlock:
                if watchOverflow, subscription?.isOverflowed == true { return .overflowed }
                var timeout: Int32 = -1
                if let deadline {
                    let remaining = deadline - .now
                    if remaining <= .zero { return .timedOut }
                    timeout = remaining.pollMilliseconds
                }
                var fds = [
                    pollfd(fd: socketFD, events: Int16(POLLOUT), revents: 0),
                    pollfd(fd: wakePipe.readFD, events: Int16(POLLIN), revents: 0),
                ]
                if poll(&fds, 2, timeout) < 0 && errno != EINTR { return .peerGone }
                if fds[1].revents != 0 { wakePipe.drain() }
            }
        }
        return .done
    }

    /// Returns false when the connection must end.
    private func startSubscription(id: JSONValue, since: Int64?) -> Bool {
        guard subscription == nil else {
            out.append(ControlLine.encode(.error(id: id, .badRequest("already subscribed on this connection"))))
            return true
        }
        // Register the live subscription before reading the journal: anything committed after the
        // replay's last read is then already queued, so there is no gap; duplicates are skipped by seq.
        let wakePipe = wakePipe
        let live = bus.subscribe(capacity: options.subscriberCapacity, onReady: { wakePipe.wake() })
        subscription = live

        guard let since else {
            out.lastSeqDelivered = live.startSeq
            out.append(ControlLine.encode(.ok(id: id, result: Self.subscribedResult(lastSeq: live.startSeq))))
            return true
        }

        var page: [JournalEvent]
        do {
            page = try service.journal(after: since, limit: options.replayPageSize)
            // Read after the page: retention only ever moves the journal's start forward, so bounds read now show
            // any pruning the page might have missed.
            if let bounds = try service.journalBounds(), !bounds.canResume(since: since) {
                live.cancel()
                subscription = nil
                out.append(ControlLine.encode(.error(id: id, .resync(since: since, bounds))))
                return true
            }
        } catch {
            // Fail the request itself rather than start a stream with a hole in it.
            live.cancel()
            subscription = nil
            out.append(ControlLine.encode(.error(id: id, ControlError(
                code: "journal_unavailable", message: "cannot replay events: \(error)"))))
            return true
        }
        let lastSeq = max(live.startSeq, since, page.last?.seq ?? since)
        out.lastSeqDelivered = since
        out.append(ControlLine.encode(.ok(id: id, result: Self.subscribedResult(lastSeq: lastSeq))))

        var cursor = since
        replayedThrough = since
        while !page.isEmpty {
            let before = cursor
            for event in page where event.seq > cursor {
                out.appendEvent(ControlLine.encode(.event(event)), seq: event.seq)
                cursor = event.seq
            }
            replayedThrough = cursor
            guard proceed(after: flush()) else { return false }
            guard cursor > before else { break }  // a journal that does not advance would loop forever
            do {
                page = try service.journal(after: cursor, limit: options.replayPageSize)
            } catch {
                logger.warning("event replay failed", metadata: ["error": "\(error)", "after": "\(cursor)"])
                out.append(ControlLine.encode(.error(id: .null, ControlError(
                    code: "journal_unavailable",
                    message: "event replay failed; reconnect with subscribe since=\(cursor)"))))
                _ = flush(deadline: .now + options.overflowGracePeriod, watchOverflow: false)
                return false
            }
        }
        return true
    }

    static func subscribedResult(lastSeq: Int64) -> JSONValue {
        ["subscribed": true, "last_seq": .number(Double(lastSeq))]
    }

    /// The client fell `subscriberCapacity` events behind: finish the line in progress, say why and
    /// where to resume, give it a short grace period to read that, then hang up.
    private func dropForOverflow() {
        hooks.overflowed()
        subscription?.cancel()
        let resumeSeq = out.dropUnstartedLines()
        logger.warning("dropping slow control client", metadata: ["resume_seq": "\(resumeSeq)"])
        out.append(ControlLine.encode(.error(id: .null, ControlError(
            code: "overflow",
            message: "client too slow; reconnect with subscribe since=\(resumeSeq)"))))
        _ = flush(deadline: .now + options.overflowGracePeriod, watchOverflow: false)
    }

    // MARK: - Lifecycle

    private var isClosing: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closing
    }

    private func beginClosing() {
        condition.lock()
        closing = true
        if socketOpen {
            // Wakes a reader blocked in recv() and a writer blocked in poll().
            Glibc.shutdown(socketFD, Int32(SHUT_RDWR))
        }
        condition.broadcast()
        condition.unlock()
        wakePipe.wake()
    }

    /// The second thread to finish closes the descriptors, so neither thread ever uses a closed
    /// (and possibly reused) fd.
    private func threadFinished() {
        condition.lock()
        runningThreads -= 1
        let last = runningThreads == 0
        if last {
            socketOpen = false
            close(socketFD)
        }
        condition.unlock()
        // The reader ending (EOF) does not end the connection: a half-closed client may still be
        // owed replies or be tailing events. The writer decides when it is over.
        guard last else { return }
        wakePipe.close()
        hooks.finished(self)
    }
}
