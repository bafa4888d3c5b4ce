import DMDeskCore
import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A store that cannot write for a while: nothing acknowledged is lost, and no message is answered twice — not
/// during the full period, not after it.
@Suite("Replies: a full disk never leads to a second reply")
struct DiskFullTests {
    static let fallback = "Thanks for your message! We'll get back to you soon."

    /// Posts like Meta: a delivery not answered 200 is delivered again later (here: once space is back).
    struct Customer {
        var id: String
        var mid: String
        var acknowledged = false
    }

    func post(_ rig: ReplyRig, _ customer: inout Customer) async throws {
        let body = WebhookBuilder.textMessage(from: customer.id, text: "hello from \(customer.id)", mid: customer.mid)
        customer.acknowledged = try await rig.d.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200
    }

    /// Every customer (all acknowledged by now) got exactly one reply, from exactly one outbox row.
    func expectAnsweredOnce(_ rig: ReplyRig, _ customers: [Customer]) async throws {
        for customer in customers { try await rig.waitForTexts(customer.id, count: 1, timeout: 30) }
        try await rig.waitIdle(timeout: 30)
        for customer in customers {
            #expect(rig.texts(customer.id) == [Self.fallback], "\(customer.id) got \(rig.texts(customer.id))")
            let rows = try await rig.outbox(customer.id)
            #expect(rows.count == 1, "\(customer.id): \(rows.map(\.status))")
            #expect(try await rig.outbox(customer.id).first?.status == .sent)
        }
        #expect(try await rig.d.count("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND status <> 'processed'") == 0)
    }

    @Test("SQLITE_FULL (max_page_count on the writer): each acknowledged message gets one outbox row and one send")
    func databaseFull() async throws {
        // The window leaves time to fill the database after the messages are stored and before they are answered.
        // (6 s: under load, posting three messages and filling the database can take a few seconds.)
        try await ReplyRig.with(env: ["DMDESK_REPLY_DELAY_MS": "6000"]) { rig in
            var customers = (0..<3).map { Customer(id: "41000000000000\($0)", mid: "m_full_\($0)_" + UUID().uuidString) }
            for i in customers.indices { try await post(rig, &customers[i]) }
            #expect(customers.allSatisfy { $0.acknowledged })
            try await rig.d.sqlite.simulateFullDatabase(true)
            // The processor tries while nothing can be written: its ticks fail as a whole, and are tried again.
            let failing = await eventually(timeout: 20) { rig.d.daemon.processor.counts.failedTicks >= 3 }
            #expect(failing, "counts: \(rig.d.daemon.processor.counts)")
            #expect(rig.fake.sentTexts().isEmpty, "nothing was sent while nothing could be recorded")
            // A delivery now cannot be stored: 500, and Meta would deliver it again.
            var late = Customer(id: "410000000000009", mid: "m_full_late_" + UUID().uuidString)
            try await post(rig, &late)
            #expect(!late.acknowledged)
            try await rig.d.sqlite.simulateFullDatabase(false)
            try await post(rig, &late)
            #expect(late.acknowledged)
            try await expectAnsweredOnce(rig, customers + [late])
        }
    }

    @Test("a sent message whose result cannot be recorded: kept, recorded once space is back, never sent again")
    func resultNotRecorded() async throws {
        try await ReplyRig.with(fakeLatency: .milliseconds(1500)) { rig in
            let customer = "4100000000000100"
            var c = Customer(id: customer, mid: "m_rec_" + UUID().uuidString)
            try await post(rig, &c)
            // The reply is at the stand-in (1.5 s to answer): fill the database before its result comes back.
            #expect(await eventually { rig.fake.requests().contains { $0.method == "POST" && $0.path.hasSuffix("/me/messages") } })
            try await rig.d.sqlite.simulateFullDatabase(true)
            #expect(await eventually { rig.fake.sentTexts(to: customer).count == 1 }, "Meta took it")
            let retried = await eventually(timeout: 20) { rig.d.runtime.outbox.counts.recordRetries >= 2 }
            #expect(retried, "the result is kept and written again: \(rig.d.runtime.outbox.counts)")
            #expect(try await rig.outbox(customer).first?.status == .sending)
            try await rig.d.sqlite.simulateFullDatabase(false)
            try await expectAnsweredOnce(rig, [c])
            let row = try #require(try await rig.outbox(customer).first)
            #expect(row.remote_message_id?.hasPrefix("m_fake_") == true)
            #expect(rig.fake.requests().filter { $0.method == "POST" && $0.path.hasSuffix("/me/messages") }.count == 1)
            #expect(try await rig.d.store.history(thread: customer).last?.delivery == .sent)
        }
    }

    @Test("a real full filesystem (a small tmpfs as the data directory), as root")
    func filesystemFull() async throws {
        #if canImport(Glibc)
        guard getuid() == 0 else {
            print("DiskFullTests.filesystemFull skipped: mounting a tmpfs needs root")
            return
        }
        let mountPoint = try makeTempDirectory(prefix: "dmdesk-tmpfs")
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=6m,mode=0700") == 0 else {
            print("DiskFullTests.filesystemFull skipped: mount -t tmpfs failed (\(String(cString: strerror(errno))))")
            return
        }
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        let dataDir = mountPoint + "/data"
        let filler = mountPoint + "/filler"
        try await ReplyRig.with(env: ["DMDESK_REPLY_DELAY_MS": "0"], dataDir: dataDir) { rig in
            // Some traffic first, so the WAL has grown and settled.
            var customers: [Customer] = []
            for i in 0..<5 {
                var c = Customer(id: "42000000000000\(i)", mid: "m_fs_\(i)_" + UUID().uuidString)
                try await post(rig, &c)
                customers.append(c)
            }
            try await expectAnsweredOnce(rig, customers)
            try fillFilesystem(filler)
            // Customers keep writing while the disk is full, until the store visibly fails (a 500, a failed tick).
            var during: [Customer] = []
            var i = 0
            let failed = await eventually(timeout: 60) {
                var c = Customer(id: "4300000000\(String(format: "%05d", i))", mid: "m_fsfull_\(i)_" + UUID().uuidString)
                i += 1
                try? await post(rig, &c)
                during.append(c)
                return !c.acknowledged || rig.d.daemon.processor.counts.failedTicks > 0
            }
            #expect(failed, "the full filesystem never made a write fail")
            try FileManager.default.removeItem(atPath: filler)
            // Meta delivers again what was not acknowledged.
            for index in during.indices where !during[index].acknowledged { try await post(rig, &during[index]) }
            #expect(during.allSatisfy { $0.acknowledged })
            try await expectAnsweredOnce(rig, customers + during)
        }
        #else
        print("DiskFullTests.filesystemFull skipped: needs Linux")
        #endif
    }

    /// Writes zeros until the filesystem says it is full.
    func fillFilesystem(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
        }
        // Whatever room is left in partly used blocks, in small pieces.
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, 512) }) > 0 {}
    }
}
