import DMDeskCore
import DMDeskDaemon
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import Synchronization
import Testing

/// The daemon's services stop in reverse order: the listener finishes what it accepted, ingest drains, the
/// processor stops, the outbox's senders and the profile lookups are awaited, the store closes last.
/// What the load's connections share: the deliveries answered 200, and when to stop.
private final class LoadLog: Sendable {
    let answered = Mutex<[(mid: String, text: String)]>([])
    let stopping = Atomic<Bool>(false)
}

@Suite("Graceful shutdown under load: services stop in order")
struct ShutdownTests {
    @Test("a graceful stop during 32-connection webhook load: every 200 is stored, no Graph caller outlives the daemon")
    func stopUnderLoad() async throws {
        // Each send takes 300 ms at the stand-in, so the stop comes while replies are on their way.
        try await ReplyRig.with(fakeLatency: .milliseconds(300)) { rig in
            let log = LoadLog()
            let load = Task {
                await withTaskGroup(of: Void.self) { group in
                    for connection in 0..<32 {
                        group.addTask {
                            var n = 0
                            while !log.stopping.load(ordering: .relaxed) {
                                n += 1
                                let mid = "m_stop_\(connection)_\(n)"
                                let text = "load \(connection).\(n) ✓"
                                let body = WebhookBuilder.textMessage(from: "9\(connection)", text: text, mid: mid)
                                guard let reply = try? await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)) else {
                                    return  // the listener closed before this one was accepted
                                }
                                if reply.status == 200 { log.answered.withLock { $0.append((mid, text)) } }
                            }
                        }
                    }
                }
            }
            #expect(await eventually(timeout: 30) { rig.fake.instagramMessages().count >= 8 }, "replies are being sent")
            // The 32 connections' requests in flight meet the stop; none is started after it (a refused connect
            // would only keep the HTTP client retrying until its timeout).
            log.stopping.store(true, ordering: .relaxed)
            try await rig.d.stop()
            await load.value

            #expect(rig.d.runtime.graphCallersRunning == 0, "no sender or profile lookup is left to call Meta")
            let delivered = log.answered.withLock { $0 }
            #expect(delivered.count >= 32)
            let store = try SQLiteStore(dataDir: rig.d.dataDir)
            var missing: [String] = []
            for (mid, text) in delivered where try await store.message(mid: mid)?.text != text { missing.append(mid) }
            #expect(missing.isEmpty, "answered 200 but not stored: \(missing.prefix(5))")
            // Every send Meta accepted is accounted for: recorded sent, or left `sending` (in doubt) by a call the
            // shutdown cut short. None is recorded failed for being interrupted.
            var sent = 0
            var inDoubt = 0
            var failed: [String] = []
            for customer in Set(delivered.map { $0.mid.split(separator: "_")[2] }) {
                for row in try await store.outbound(thread: "9\(customer)") {
                    switch row.status {
                    case .sent: sent += 1
                    case .sending: inDoubt += 1
                    case .failed: failed.append(row.error ?? "?")
                    default: break
                    }
                }
            }
            let accepted = rig.fake.instagramMessages().count
            #expect(failed.isEmpty, "sends recorded failed: \(failed.prefix(3))")
            #expect(sent <= accepted && accepted <= sent + inDoubt, "accepted \(accepted), sent \(sent), in doubt \(inDoubt)")
            try await store.close()
        }
    }
}
