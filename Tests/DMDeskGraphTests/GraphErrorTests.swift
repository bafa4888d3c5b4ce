import DMDeskGraph
import Foundation
import Testing

@Suite("GraphError classification")
struct GraphErrorTests {
    static func meta(_ code: Int, _ subcode: Int? = nil, status: Int = 400) -> GraphError {
        GraphError(kind: .meta, status: status, code: code, subcode: subcode, message: "m")
    }

    @Test(arguments: [1, 2, 4, 17, 341, 613])
    func retryableCodes(code: Int) {
        #expect(Self.meta(code).isRetryable)
    }

    @Test(arguments: [10, 100, 190, 200, 551, 2018300, 12345])
    func permanentCodes(code: Int) {
        #expect(!Self.meta(code).isRetryable)
    }

    @Test func permanentCodesStayPermanentOn5xx() {
        #expect(!Self.meta(190, status: 500).isRetryable)
        #expect(!Self.meta(10, 2534022, status: 503).isRetryable)
        #expect(Self.meta(12345, status: 500).isRetryable)  // unlisted code, but the server said it was its fault
    }

    @Test func perRecipientLimitIsPermanent() {
        #expect(!Self.meta(613, 2018338).isRetryable)
        #expect(Self.meta(613, 1234).isRetryable)
    }

    @Test func outsideWindowSubcodes() {
        #expect(Self.meta(10, 2534022).isOutsideWindow)
        #expect(Self.meta(10, 2018278).isOutsideWindow)
        #expect(!Self.meta(10).isOutsideWindow)
        #expect(!Self.meta(100, 2534022).isOutsideWindow)
        #expect(Self.meta(10, 2018278).description.hasPrefix("outside the 24-hour messaging window (Meta code 10/2018278)"))
    }

    @Test func otherFlagsAndDescriptions() {
        #expect(Self.meta(190).isTokenInvalid)
        #expect(!Self.meta(100).isTokenInvalid)
        #expect(Self.meta(131047).isWhatsAppReengagement)
        #expect(!Self.meta(131047).isRetryable)
        #expect(Self.meta(2018300).description.hasPrefix("another app controls this thread (code 2018300)"))
        #expect(Self.meta(551).description.contains("isn't available"))
    }

    @Test func parsesMetaErrorBody() {
        let body = Data(
            #"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"AbC"}}"#
                .utf8)
        let error = GraphError.fromResponse(status: 401, body: body, retryAfter: nil)
        #expect(error.kind == .meta)
        #expect(error.code == 190)
        #expect(error.subcode == 460)
        #expect(error.type == "OAuthException")
        #expect(error.fbtraceId == "AbC")
        #expect(error.message == "Invalid OAuth access token.")
        #expect(error.description == "access token invalid or expired (Meta code 190/460): Invalid OAuth access token. [fbtrace_id AbC]")
    }

    @Test func nonJSONBodyIsHTTPError() {
        let error = GraphError.fromResponse(status: 404, body: Data("not found".utf8))
        #expect(error.kind == .http(status: 404))
        #expect(!error.isRetryable)
        #expect(GraphError.fromResponse(status: 504, body: Data()).isRetryable)
        #expect(GraphError.network("connection refused").isRetryable)
    }
}

@Suite("GraphError: Meta's refusals of media")
struct AttachmentRefusalTests {
    @Test("each refusal is permanent (even code 4, otherwise a rate limit) and said in plain words", arguments: [
        (100, 2018008, GraphError.AttachmentRefusal.unreachable, "could not fetch the attachment from its URL"),
        (100, 2018047, GraphError.AttachmentRefusal.unsupported, "does not take this file as that type"),
        (4, 2018109, GraphError.AttachmentRefusal.tooLarge, "larger than Instagram allows"),
    ])
    func refusals(code: Int, subcode: Int, refusal: GraphError.AttachmentRefusal, words: String) {
        let error = GraphError(kind: .meta, status: 400, code: code, subcode: subcode, message: "(#\(code)) Meta's words")
        #expect(error.attachmentRefusal == refusal)
        #expect(!error.isRetryable)
        #expect(error.description.contains(words) && error.description.contains("Meta code \(code)/\(subcode)"))
        #expect(error.description.hasSuffix("(#\(code)) Meta's words"), "Meta's own message kept after ours")
    }

    @Test func otherErrorsAreNoRefusalOfMedia() {
        #expect(GraphError(kind: .meta, status: 400, code: 4).attachmentRefusal == nil)
        #expect(GraphError(kind: .meta, status: 400, code: 4).isRetryable)
        #expect(GraphError(kind: .http(status: 400), status: 400, subcode: 2018008).attachmentRefusal == nil)
    }

    @Test func outsideWindowRefusedHereIsPermanent() {
        let error = GraphError(kind: .outsideWindow("the customer last wrote over 7 days ago"))
        #expect(!error.isRetryable)
        #expect(error.description == "not sent: the customer last wrote over 7 days ago")
    }
}
