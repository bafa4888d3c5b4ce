import DMDeskCore
import DMDeskGraph
import DMDeskTesting
import Foundation
import Logging
import Synchronization
import Testing

@Suite("Refreshing the long-lived Instagram token against the stand-in")
struct TokenRefreshTests {
    @Test("a refresh hands back a new token and its lifetime; later calls carry it; the logged URL never shows a token")
    func refreshAndUse() async throws {
        let lines = CapturedLines()
        try await withFakeGraph { fake, configured in
            fake.setRefreshTokenLifetime(seconds: 864_000)
            let client = GraphClient(settings: configured.settings, logger: Logger(label: "t") { _ in lines.handler() })
            let refreshed = try await client.refreshAccessToken()
            #expect(refreshed.expiresIn == 864_000)
            #expect(refreshed.accessToken != testToken && !refreshed.accessToken.isEmpty)
            let call = try #require(fake.requests().last)
            #expect(call.path == "/refresh_access_token", "Meta serves it without a version: \(call.path)")
            #expect(call.query.contains("grant_type=ig_refresh_token"))

            client.useInstagramToken(refreshed.accessToken)
            #expect(client.instagramToken == refreshed.accessToken)
            _ = try await client.sendText(recipient: "4242", text: "hi")
            #expect(fake.requests().last?.authorization == "Bearer \(refreshed.accessToken)")

            // A refused refresh is logged with its URL: neither token may be in it.
            fake.failNext(1, status: 400, code: 190, message: "Error validating access token")
            let error = try await #require(throws: GraphError.self) { try await client.refreshAccessToken() }
            #expect(error.isTokenInvalid)
            let log = lines.all.joined(separator: "\n")
            #expect(log.contains("refresh_access_token"), "\(log)")
            #expect(!log.contains(refreshed.accessToken) && !log.contains(testToken), "\(log)")
        }
    }

    @Test("an unknown token is refused with 190 and nothing is handed out")
    func unknownToken() async throws {
        try await withFakeGraph(settings: { $0.accessToken = "not-the-token-at-all" }) { fake, client in
            let error = try await #require(throws: GraphError.self) { try await client.refreshAccessToken() }
            #expect(error.isTokenInvalid, "\(error)")
            #expect(fake.refreshCount == 0)
        }
    }
}

/// Keeps every log line a client writes (message and metadata), to look for tokens in them.
final class CapturedLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    func handler() -> some LogHandler { Handler(sink: self) }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let sink: CapturedLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.append("\(event.message) \(event.metadata ?? [:])")
        }
    }
}
