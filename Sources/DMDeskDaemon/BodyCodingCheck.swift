import Foundation
import HTTPTypes
import Hummingbird

/// Refuses, before any body is read, a body in a coding we would not undo: a transfer coding other than chunked
/// (RFC 9112 §6.1: 501 for a transfer coding the server does not understand) and a content coding other than
/// identity (RFC 9110 §15.5.16: 415, naming what is accepted). Without this, `Transfer-Encoding: gzip, chunked`
/// was un-chunked by the HTTP decoder and its gzip bytes read as if they were the JSON.
/// The refusal says `Connection: close`; whatever of the body is still arriving is drained under the listener's
/// request deadline (`ListenerLimits`).
struct BodyCodingCheck<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = Self.refusal(for: request.headers) { return refusal }
        return try await next(request, context)
    }

    static func refusal(for headers: HTTPFields) -> Response? {
        let transfer = codings(headers[values: .transferEncoding])
        // The decoder already refuses (400) a request whose last transfer coding is not chunked, as RFC 9112
        // requires; what reaches here is chunked, possibly after codings we do not know.
        if !transfer.isEmpty && transfer != ["chunked"] {
            let unknown = transfer.filter { $0 != "chunked" }
            return refuse(
                .notImplemented,
                "Transfer-Encoding \(unknown.isEmpty ? transfer.joined(separator: ", ") : unknown.joined(separator: ", ")) is not supported: send the body with Content-Length or Transfer-Encoding: chunked alone")
        }
        let content = codings(headers[values: .contentEncoding]).filter { $0 != "identity" }
        if !content.isEmpty {
            var response = refuse(
                .unsupportedMediaType,
                "Content-Encoding \(content.joined(separator: ", ")) is not supported: send the body uncompressed")
            response.headers[.acceptEncoding] = "identity"
            return response
        }
        return nil
    }

    /// `gzip, chunked` over one or several header lines → ["gzip", "chunked"], lower-cased, parameters dropped.
    static func codings(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.compactMap { item in
            let name = item.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            let trimmed = name.trimmingCharacters(in: .whitespaces).lowercased()
            return trimmed.isEmpty ? nil : trimmed
        }
    }

    private static func refuse(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8", .connection: "close"],
            body: .init(byteBuffer: ByteBuffer(string: reason)))
    }
}
