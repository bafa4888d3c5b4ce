import DMDeskCore
import DMDeskDaemon
import DMDeskTesting
import Foundation
import Testing

@Suite("Requests the daemon must refuse, over its real control socket")
struct ControlRequestDaemonTests {
    func refusal(_ request: ControlRequest, path: String) async throws -> ControlError? {
        try await onThread { () throws -> ControlError? in
            let client = try ControlClient.connect(path: path)
            defer { client.close() }
            do {
                _ = try client.request(request, timeout: 10)
                return nil
            } catch ControlClientError.server(let error) {
                return error
            }
        }
    }

    @Test("a thread id with a NUL acts on nothing; numbers out of range are refused; the real request still works")
    func refusedRequestsChangeNothing() async throws {
        try await withDaemon(env: ["DMDESK_REPLY_DELAY_MS": "600000"]) { d, _ in
            let path = d.dataDir + "/dmdesk.sock"
            #expect(try await d.post(WebhookFixture.named("text.json")).status == 200)
            let thread = "1150723386611240"

            // SQLite would have read "1150723386611240\0x" as the real thread and taken it over.
            let nul = try await refusal(ControlRequest(id: 1, type: .takeover, thread: thread + "\u{0}x"), path: path)
            #expect(nul?.code == "bad_request" && nul?.message.contains("NUL") == true, "\(String(describing: nul))")
            #expect(try await d.store.thread(thread)?.mode == .auto, "nothing was taken over")
            let nulText = try await refusal(ControlRequest(id: 2, type: .send, thread: thread, text: "hi\u{0}there"), path: path)
            #expect(nulText?.code == "bad_request")

            for request in [
                ControlRequest(id: 3, type: .threads, limit: Int.max), ControlRequest(id: 4, type: .history, thread: thread, before: .max),
                ControlRequest(id: 5, type: .retry, outbound: .min), ControlRequest(id: 6, type: .threads, limit: -1),
            ] {
                let error = try await refusal(request, path: path)
                #expect(error?.code == "bad_request" && error?.message.contains("whole number") == true, "\(request): \(String(describing: error))")
            }

            #expect(try await refusal(ControlRequest(id: 7, type: .takeover, thread: thread), path: path) == nil)
            #expect(try await d.store.thread(thread)?.mode == .human)
        }
    }
}
