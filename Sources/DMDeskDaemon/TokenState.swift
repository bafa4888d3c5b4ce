import Synchronization

/// Meta answered code 190: sends will fail until someone fixes the token; /health and the console show it.
final class TokenState: Sendable {
    private let reason = Mutex<String?>(nil)
    /// Yields each time the token turns invalid: the status watch publishes a `daemon.status` event for it.
    let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    init() {
        (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var invalidReason: String? { reason.withLock { $0 } }

    func markInvalid(_ why: String) {
        let turnedInvalid = reason.withLock { r -> Bool in
            defer { r = why }
            return r == nil
        }
        if turnedInvalid { changed.yield() }
    }

    func clear() { reason.withLock { $0 = nil } }
}
