import DMDeskCore
import DMDeskDaemon
import Foundation
import Logging
import ServiceLifecycle

/// A daemon running inside this process (the console's or the demo's), stopped cleanly on the way out.
final class EmbeddedDaemon: Sendable {
    let daemon: Daemon
    let group: ServiceGroup
    let task: Task<Void, Error>
    let port: Int

    init(config: DMDeskConfig, options: DaemonOptions, logger: Logger) async throws {
        daemon = try Daemon(config: config, options: options, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
        self.group = group
        task = Task { try await group.run() }
        port = try await daemon.waitUntilListening()
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// Runs a blocking function (the curses loop) on its own thread so Swift's small cooperative pool stays free
/// for the embedded daemon.
func runOnOwnThread(_ body: @escaping @Sendable () -> Int32) async -> Int32 {
    await withCheckedContinuation { continuation in
        Thread.start(named: "dmdesk-console", stackSize: 8 << 20) {
            continuation.resume(returning: body())
        }
    }
}

/// True when something answers on the control socket.
func daemonAnswers(at path: String) -> Bool {
    guard let client = try? ControlClient.connect(path: path, timeout: 1) else { return false }
    client.close()
    return true
}
