import DMDeskCore
import DMDeskGraph
import DMDeskTesting
import Foundation
import Testing

let testToken = "test-token-123"

/// Runs `body` against a freshly started stand-in on port 0 and a client pointed at it; always stops the server.
func withFakeGraph<T: Sendable>(
    expectedToken: String? = testToken,
    settings configure: (inout GraphSettings) -> Void = { _ in },
    _ body: (FakeGraphAPI, GraphClient) async throws -> T
) async throws -> T {
    let fake = FakeGraphAPI(expectedToken: expectedToken)
    try await fake.start()
    var settings = GraphSettings(
        instagramBaseURL: fake.instagramBaseURL, accessToken: testToken,
        whatsappBaseURL: fake.whatsappBaseURL, whatsappToken: nil, whatsappPhoneNumberId: "1055",
        requestTimeout: .seconds(5))
    configure(&settings)
    let client = GraphClient(settings: settings)
    do {
        let result = try await body(fake, client)
        await fake.stop()
        return result
    } catch {
        await fake.stop()
        throw error
    }
}

/// Collects `onFailedAttempt` reports from another task.
/// Sends "hi" under the immediate retry policy, expecting it to fail in the end; returns the last error. `log`
/// records each failed attempt.
func sendFailingUnderRetries(_ client: GraphClient, log: AttemptLog = AttemptLog()) async throws -> GraphError {
    try await #require(throws: GraphError.self) {
        try await withGraphRetries(.immediate, onFailedAttempt: log.record) { () throws(GraphError) in
            try await client.sendText(recipient: "1", text: "hi")
        }
    }
}

final class AttemptLog: Sendable {
    private let entries = Locked<[(Int, GraphError)]>([])
    func record(_ attempt: Int, _ error: GraphError) { entries.withLock { $0.append((attempt, error)) } }
    var attempts: [Int] { entries.withLock { $0.map(\.0) } }
}

import Synchronization

final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
