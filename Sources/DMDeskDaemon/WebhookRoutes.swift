import DMDeskCore
import DMDeskStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Meta's webhook endpoint: the verification handshake (GET) and signed deliveries (POST).
struct WebhookRoutes: Sendable {
    static let paths = ["/webhooks/instagram", "/webhook", "/api/webhooks/instagram"]
    static let maxBodyBytes = 1 << 20

    let config: DMDeskConfig
    let logger: Logger
    let health: HealthReporter
    let ingest: IngestPipeline
    let metrics: DaemonMetrics

    func register(on router: Router<BasicRequestContext>) {
        for path in Self.paths {
            router.get(RouterPath(path)) { request, _ in self.verify(request) }
            router.post(RouterPath(path)) { request, context in try await self.receive(request, context: context) }
        }
        router.get("/health") { _, _ in await self.health() }
    }

    /// `hub.mode=subscribe` and our verify token → the challenge, as text/plain; anything else → 403.
    func verify(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        guard let expected = config.verifyToken,
            query["hub.mode"].map(String.init) == "subscribe",
            let given = query["hub.verify_token"].map(String.init),
            Crypto.constantTimeEqual(given, expected),
            let challenge = query["hub.challenge"].map(String.init)
        else {
            logger.warning("webhook verification refused", metadata: ["mode": "\(query["hub.mode"].map(String.init) ?? "-")"])
            return Self.text(.forbidden, "Forbidden")
        }
        logger.info("webhook verification succeeded")
        return Self.text(.ok, challenge)
    }

    func receive(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let (response, result) = try await answer(request, context: context)
        metrics.webhook(result)
        if config.appSecret != nil && (result == .accepted || result == .ignored) { health.webhooks.received() }
        if result == .accepted { metrics.ingested(after: started.duration(to: .now)) }
        return response
    }

    private func answer(_ request: Request, context: BasicRequestContext) async throws -> (Response, DaemonMetrics.WebhookResult) {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxBodyBytes {
            return (Self.text(.contentTooLarge, "body over 1 MiB"), .tooLarge)
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return (Self.text(.contentTooLarge, "body over 1 MiB"), .tooLarge)
        }
        if let secret = config.appSecret {
            do {
                try body.withUnsafeReadableBytes { bytes throws(WebhookSignature.Failure) in
                    try WebhookSignature.verify(header: request.headers[.xHubSignature256], secret: secret, body: bytes)
                }
            } catch {
                logger.warning("webhook rejected", metadata: ["reason": "\(error)"])
                return (Self.text(.unauthorized, "\(error)"), .badSignature)
            }
        }
        let delivery: WebhookDelivery
        do {
            delivery = try body.withUnsafeReadableBytes { bytes throws(WebhookParseError) in try WebhookParser.parse(bytes: bytes) }
        } catch {
            logger.warning("webhook body rejected", metadata: ["reason": "\(error)"])
            return (Self.text(.badRequest, "\(error)"), .badBody)
        }
        guard delivery.object == "instagram" else {
            logger.info("ignored a webhook for another object", metadata: ["object": "\(delivery.object ?? "none")"])
            return (Self.text(.ok, "EVENT_RECEIVED"), .ignored)
        }
        if delivery.events.isEmpty { return (Self.text(.ok, "EVENT_RECEIVED"), .ignored) }
        do {
            _ = try await ingest.submit(delivery.events)
        } catch {
            // Not stored: Meta must retry, so anything but a 200.
            return (Self.text(.internalServerError, "could not store the delivery; Meta will retry"), .storeFailed)
        }
        return (Self.text(.ok, "EVENT_RECEIVED"), .accepted)
    }

    func health() async -> Response {
        let report = await health.healthReport()
        return Response(
            status: report.unavailable ? .serviceUnavailable : .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: report.json.encoded())))
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }
}

extension HTTPField.Name {
    static let xHubSignature256 = Self("X-Hub-Signature-256")!
    static let xServiceToken = Self("x-service-token")!
}
