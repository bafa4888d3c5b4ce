import Foundation
import Hummingbird
import Logging
import Synchronization

/// A Hummingbird server on 127.0.0.1 and an ephemeral port, answering with one closure: the base of the local
/// stand-ins for remote APIs (Meta's Graph API, a chat-completions endpoint).
final class LocalHTTPServer: Sendable {
    struct FailedToStart: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) failed to start: could not bind 127.0.0.1" }
    }

    private struct State {
        var port: Int?
        var task: Task<Void, Never>?
    }

    private let name: String
    private let logger: Logger
    private let state = Mutex(State())

    init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
    }

    deinit {
        state.withLock { $0.task?.cancel() }
    }

    var port: Int? { state.withLock { $0.port } }

    /// Starts the server and returns its port; calling it again while running returns the same port.
    /// `respond` should capture the stand-in weakly, so a forgotten stand-in still shuts its server down.
    func start(respond: @escaping @Sendable (Request) async throws -> Response) async throws -> Int {
        if let port { return port }
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let responder = CallbackResponder<BasicRequestContext> { request, _ in try await respond(request) }
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: name),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger)
        let logger = self.logger
        let name = self.name
        let task = Task {
            do {
                // No signal handling: the process that embeds us owns SIGINT/SIGTERM; we stop on cancellation.
                try await app.runService(gracefulShutdownSignals: [])
            } catch {
                logger.error("\(name) stopped: \(error)")
            }
            portContinuation.finish()  // unblocks start() if the server never came up
        }
        var ports = portStream.makeAsyncIterator()
        guard let port = await ports.next(), port > 0 else {
            task.cancel()
            await task.value
            throw FailedToStart(name: name)
        }
        let alreadyRunning: Int? = state.withLock { state in
            if let existing = state.port { return existing }
            state.port = port
            state.task = task
            return nil
        }
        if let alreadyRunning {  // two concurrent start() calls: keep the first server
            task.cancel()
            await task.value
            return alreadyRunning
        }
        return port
    }

    /// Stops the server and waits until it has closed its socket.
    func stop() async {
        let task = state.withLock { state -> Task<Void, Never>? in
            defer {
                state.task = nil
                state.port = nil
            }
            return state.task
        }
        task?.cancel()
        await task?.value
    }
}
