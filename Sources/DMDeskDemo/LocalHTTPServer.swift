import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A Hummingbird (HTTP/1.1) server on 127.0.0.1 and an ephemeral port, answering with one closure: the base of the
/// local stand-ins for remote APIs (Meta's Graph API, a chat-completions endpoint).
///
/// Built on HummingbirdCore's server rather than `Application`, because `Application` overwrites every answer's
/// `Date` header with its own clock, and a stand-in must be able to send another (a remote clock that is off).
/// Answers without a `Date` get the current time, as every HTTP server sends.
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
        let name = self.name
        let logger = self.logger
        let server = try HTTPServerBuilder.http1().buildServer(
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: name),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger,
            responder: { request, responseWriter, _ in
                var response: Response
                do {
                    response = try await respond(request)
                } catch {
                    logger.debug("\(name) answer failed: \(error)")
                    response = Response(status: .internalServerError)
                }
                if response.headers[.date] == nil { response.headers[.date] = Self.httpDate(Date()) }
                response.headers[.server] = name
                try await responseWriter.write(response: response.head, body: response.body)
            },
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            })
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let task = Task {
            do {
                // No signal handling: the process that embeds us owns SIGINT/SIGTERM; we stop on cancellation.
                try await group.run()
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

    /// An HTTP date (RFC 9110 IMF-fixdate), e.g. `Thu, 03 Dec 2026 06:15:00 GMT`. Written by hand (no DateFormatter):
    /// every answer carries one, and the stand-ins serve benchmarks.
    static func httpDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) "
            + "\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
    }
}
