import DMDeskCore
import Foundation
import Glibc
import Logging
import Synchronization

public enum ControlServerError: Error, Equatable, CustomStringConvertible {
    /// Something already answers on the socket; a live daemon is never displaced.
    case alreadyRunning(String)
    case pathTooLong(String, maxBytes: Int)
    /// The path exists but is not a socket; we do not delete other people's files.
    case notASocket(String)
    case directory(String, reason: String)
    case system(operation: String, path: String, errno: Int32)
    case alreadyStarted

    public var description: String {
        switch self {
        case .alreadyRunning(let path):
            return "a dmdesk daemon is already running on the control socket \(path)"
        case .pathTooLong(let path, let maxBytes):
            return "control socket path is longer than \(maxBytes) bytes: \(path)"
        case .notASocket(let path):
            return "\(path) exists and is not a socket; refusing to replace it"
        case .directory(let path, let reason):
            return "control socket directory \(path): \(reason)"
        case .system(let operation, let path, let code):
            return "control socket \(path): \(operation) failed: \(UnixSocket.errorText(code))"
        case .alreadyStarted:
            return "control server already started"
        }
    }
}

public struct ControlServerStats: Sendable, Equatable {
    public var connectedClients = 0
    public var acceptedClients = 0
    /// Clients dropped because their event queue overflowed.
    public var overflowDisconnects = 0
    /// Connections refused by the peer uid check.
    public var refusedPeers = 0
}

/// The daemon's control socket: a Unix stream socket speaking newline-delimited JSON
/// (docs/PROTOCOL.md). Plain POSIX sockets and threads: one acceptor thread, and a reader and a
/// writer thread per client.
public final class ControlServer: Sendable {
    public struct Options: Sendable {
        /// Peers whose uid (SO_PEERCRED) is not in this set get a `forbidden` error and are closed.
        public var allowedPeerUIDs: Set<uid_t> = [getuid()]
        /// Undelivered live events a client may fall behind before it is dropped.
        public var subscriberCapacity = 10_000
        /// How long a dropped client gets to read its final error line.
        public var overflowGracePeriod: Duration = .seconds(2)
        /// Journal rows fetched per query when replaying `subscribe since`.
        public var replayPageSize = 500
        public var maxLineBytes = ControlProtocol.maxLineBytes
        /// Requests a client may have unanswered (or answered but unread) before we stop reading from it.
        public var maxOutstandingRequests = 256
        /// How long `stop()` waits for client threads to finish.
        public var stopTimeout: Duration = .seconds(5)

        public init() {}
    }

    private struct State {
        var started = false
        var stopping = false
        var listenFD: Int32 = -1
        var acceptorWake: WakePipe?
        var socketInode: ino_t = 0
        var connections: [Int: ClientConnection] = [:]
        var nextConnectionNumber = 0
        var stats = ControlServerStats()
    }

    public let path: String
    private let service: any ControlService
    private let bus: EventBus
    private let logger: Logger
    private let options: Options
    private let state = Mutex(State())
    private let threads = DispatchGroup()

    public init(path: String, service: any ControlService, bus: EventBus, logger: Logger, options: Options = Options()) {
        self.path = path
        self.service = service
        self.bus = bus
        self.logger = logger
        self.options = options
    }

    public var stats: ControlServerStats {
        state.withLock { state in
            var stats = state.stats
            stats.connectedClients = state.connections.count
            return stats
        }
    }

    // MARK: - Start

    public func start() throws {
        guard state.withLock({ !$0.started }) else { throw ControlServerError.alreadyStarted }
        guard let address = UnixSocket.address(path) else {
            throw ControlServerError.pathTooLong(path, maxBytes: UnixSocket.maxPathBytes)
        }
        try preparePrivateDirectory()
        try removeStaleSocket(address)

        let listenFD = UnixSocket.makeStreamSocket(nonBlocking: true)
        guard listenFD >= 0 else { throw ControlServerError.system(operation: "socket", path: path, errno: errno) }
        // No umask trick: umask is process-wide and would race with other threads creating files. Between
        // bind and chmod the socket sits in our 0700 directory, and the peer uid check applies regardless.
        let bindResult = UnixSocket.bind(listenFD, address)
        let bindErrno = errno
        guard bindResult == 0 else {
            close(listenFD)
            // Lost a race with another daemon starting on the same path.
            if bindErrno == EADDRINUSE { throw ControlServerError.alreadyRunning(path) }
            throw ControlServerError.system(operation: "bind", path: path, errno: bindErrno)
        }
        var info = stat()
        guard chmod(path, 0o600) == 0, listen(listenFD, 128) == 0, stat(path, &info) == 0,
              let acceptorWake = WakePipe()
        else {
            let code = errno
            close(listenFD)
            unlink(path)
            throw ControlServerError.system(operation: "listen", path: path, errno: code)
        }

        state.withLock { state in
            state.started = true
            state.listenFD = listenFD
            state.acceptorWake = acceptorWake
            state.socketInode = info.st_ino
        }
        threads.enter()
        // accept() blocks: the listener has a thread of its own.
        Thread.start(named: "dmdesk-accept", stackSize: 1 << 20) { [self] in
            acceptLoop(listenFD: listenFD, wake: acceptorWake)
            threads.leave()
        }
        logger.info("control socket listening", metadata: ["path": "\(path)"])
    }

    /// Creates the socket's directory 0700, or tightens an existing one we own. A shared sticky
    /// directory such as /tmp is left alone: the socket's own 0600 mode and the uid check still apply.
    private func preparePrivateDirectory() throws {
        let directory = (path as NSString).deletingLastPathComponent.isEmpty
            ? "." : (path as NSString).deletingLastPathComponent
        var info = stat()
        if stat(directory, &info) != 0 {
            guard errno == ENOENT else {
                throw ControlServerError.directory(directory, reason: UnixSocket.errorText(errno))
            }
            let parent = (directory as NSString).deletingLastPathComponent
            if !parent.isEmpty {
                try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw ControlServerError.directory(directory, reason: UnixSocket.errorText(errno))
            }
            guard stat(directory, &info) == 0 else {
                throw ControlServerError.directory(directory, reason: UnixSocket.errorText(errno))
            }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ControlServerError.directory(directory, reason: "not a directory")
        }
        guard info.st_mode & 0o077 != 0 else { return }
        if info.st_uid == getuid() && info.st_mode & S_ISVTX == 0 {
            guard chmod(directory, 0o700) == 0 else {
                throw ControlServerError.directory(directory, reason: "chmod 0700: \(UnixSocket.errorText(errno))")
            }
        } else {
            logger.warning(
                "control socket directory is shared; relying on the socket's mode 0600 and the peer uid check",
                metadata: ["directory": "\(directory)"])
        }
    }

    /// A socket file nobody answers on is left over from a daemon that died; one that answers
    /// belongs to a live daemon and is never touched.
    private func removeStaleSocket(_ address: sockaddr_un) throws {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return }
            throw ControlServerError.system(operation: "stat", path: path, errno: errno)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw ControlServerError.notASocket(path) }
        switch UnixSocket.probe(address) {
        case .listening:
            throw ControlServerError.alreadyRunning(path)
        case .nothingThere:
            return
        case .stale:
            if unlink(path) != 0 && errno != ENOENT {
                throw ControlServerError.system(operation: "unlink stale socket", path: path, errno: errno)
            }
            logger.info("removed stale control socket", metadata: ["path": "\(path)"])
        case .failed(let code):
            // Cannot tell whether a daemon is there (e.g. EACCES): do not displace it.
            throw ControlServerError.system(operation: "connect", path: path, errno: code)
        }
    }

    // MARK: - Accepting

    private func acceptLoop(listenFD: Int32, wake: WakePipe) {
        while true {
            var fds = [
                pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                logger.error("control socket poll failed", metadata: ["error": "\(UnixSocket.errorText(errno))"])
                return
            }
            if fds[1].revents != 0 || state.withLock({ $0.stopping }) { return }
            // accept4 is GNU-only in Swift's Glibc; Linux accept() does not inherit O_NONBLOCK,
            // so the client socket is blocking (the reader relies on that).
            let clientFD = accept(listenFD, nil, nil)
            if clientFD >= 0 { _ = fcntl(clientFD, F_SETFD, FD_CLOEXEC) }
            if clientFD < 0 {
                switch errno {
                case EINTR, EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: back off instead of spinning on a readable listener.
                    logger.error("control socket accept failed", metadata: ["error": "\(UnixSocket.errorText(errno))"])
                    usleep(100_000)
                    continue
                default:
                    logger.error("control socket accept failed", metadata: ["error": "\(UnixSocket.errorText(errno))"])
                    return
                }
            }
            admit(clientFD)
        }
    }

    private func admit(_ clientFD: Int32) {
        let peerUID = UnixSocket.peerUID(clientFD)
        guard let peerUID, options.allowedPeerUIDs.contains(peerUID) else {
            state.withLock { $0.stats.refusedPeers += 1 }
            logger.warning("refused control client from another user", metadata: ["uid": "\(peerUID.map(String.init) ?? "unknown")"])
            let line = ControlLine.encode(.error(id: .null, ControlError(
                code: "forbidden", message: "this daemon accepts control connections only from its own user")))
            _ = line.withUnsafeBytes { UnixSocket.sendSome(clientFD, $0) }
            Glibc.shutdown(clientFD, Int32(SHUT_WR))
            close(clientFD)
            return
        }
        guard let wakePipe = WakePipe() else {
            logger.error("cannot create wake pipe for control client")
            close(clientFD)
            return
        }
        let hooks = ClientConnection.Hooks(
            finished: { [weak self] connection in
                self?.state.withLock { _ = $0.connections.removeValue(forKey: connection.number) }
            },
            overflowed: { [weak self] in
                self?.state.withLock { $0.stats.overflowDisconnects += 1 }
            })
        let connection: ClientConnection? = state.withLock { state in
            guard !state.stopping else { return nil }
            state.nextConnectionNumber += 1
            state.stats.acceptedClients += 1
            let connection = ClientConnection(
                number: state.nextConnectionNumber, socketFD: clientFD, wakePipe: wakePipe, service: service,
                bus: bus, options: options, logger: logger, threads: threads, hooks: hooks)
            state.connections[connection.number] = connection
            // Entered under the lock so stop() cannot finish waiting before these threads exist.
            threads.enter()
            threads.enter()
            return connection
        }
        guard let connection else {
            wakePipe.close()
            close(clientFD)
            return
        }
        logger.debug("control client connected", metadata: ["client": "\(connection.number)"])
        connection.start()
    }

    // MARK: - Stop

    /// Closes the listener and every client, waits for their threads, and removes the socket file
    /// (only if it is still ours). Idempotent.
    public func stop() {
        let snapshot = state.withLock { state -> (Int32, WakePipe?, ino_t, [ClientConnection])? in
            guard state.started, !state.stopping else { return nil }
            state.stopping = true
            return (state.listenFD, state.acceptorWake, state.socketInode, Array(state.connections.values))
        }
        guard let (listenFD, acceptorWake, inode, connections) = snapshot else { return }
        acceptorWake?.wake()
        for connection in connections { connection.shutdown() }
        let timeout = DispatchTime.now() + options.stopTimeout.seconds
        if threads.wait(timeout: timeout) == .timedOut {
            logger.warning("control client threads did not finish in time")
        }
        close(listenFD)
        acceptorWake?.close()
        var info = stat()
        if lstat(path, &info) == 0 && info.st_ino == inode && info.st_mode & S_IFMT == S_IFSOCK {
            unlink(path)
        }
        logger.info("control socket closed", metadata: ["path": "\(path)"])
    }
}
