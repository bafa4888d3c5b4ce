import ArgumentParser
import AsyncHTTPClient
import DMDeskCore
import DMDeskStore
import DMDeskDemo
import Foundation
import NIOCore
import Synchronization

/// Hidden helper for `scripts/bench-replies`: runs the Graph API stand-in, waits for a daemon pointed at it,
/// then plays `threads` customers at once, each sending `messages` messages through the signed webhook and waiting
/// for the bot's answer before the next. Checks that every customer got exactly its answers, in order, once.
struct BenchRepliesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replies-driver", abstract: "Reply benchmark driver with a Graph API stand-in.")

    @Option(help: "Port for the Graph API stand-in (0: any free port).") var port: Int = 0
    @Option(help: "Write the stand-in's Instagram base URL to this file once it listens.") var readyFile: String
    @Option(help: "The daemon's base URL, e.g. http://127.0.0.1:8080.") var daemonURL: String
    @Option(help: "The daemon's INSTAGRAM_APP_SECRET.") var secret: String
    @Option(help: "The daemon's INSTAGRAM_ACCESS_TOKEN (the stand-in insists on it).") var token: String
    @Option(help: "The daemon's data directory (read afterwards to check the store).") var storeDir: String
    @Option(help: "Customers talking at once.") var threads: Int = 1000
    @Option(help: "Messages per customer.") var messages: Int = 5
    @Option(help: "Minimum replies/s for PASS.") var minRate: Double = 2000
    @Option(help: "Give up after this many seconds.") var timeout: Double = 300
    @Option(help: "Also run a chat-completions stand-in (the agent responder's model) and write its base URL here.")
    var modelReadyFile: String?

    /// The rule the script adds for message k: `bench-q<k>` (whole word) → `bench answer <k>`.
    static func question(_ k: Int) -> String { "bench-q\(k)" }
    static func answer(_ k: Int) -> String { "bench answer \(k)" }

    func run() async throws {
        let fake = FakeGraphAPI(expectedToken: token)
        _ = try await fake.start()
        // The agent's model: answers "bench-q<k>" with send_message("bench answer <k>"), then ends its turn.
        let model = modelReadyFile == nil ? nil : FakeChatCompletions(brain: Self.benchModel)
        if let model, let modelReadyFile {
            try (try await model.start()).write(toFile: modelReadyFile, atomically: true, encoding: .utf8)
        }
        if let p = fake.port, port != 0, p != port { fail("stand-in bound \(p), not \(port)") }
        try fake.instagramBaseURL.write(toFile: readyFile, atomically: true, encoding: .utf8)
        log("Graph API stand-in at \(fake.instagramBaseURL); waiting for the daemon at \(daemonURL)")

        // Wait for the daemon.
        let healthDeadline = Date().addingTimeInterval(120)
        while true {
            if let r = try? await HTTPClient.shared.execute(HTTPClientRequest(url: daemonURL + "/health"), timeout: .seconds(2)),
                r.status == .ok
            {
                break
            }
            if Date() > healthDeadline { fail("the daemon did not answer /health") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let waiter = ReplyWaiter()
        let poller = Task {
            var seen = 0
            while !Task.isCancelled {
                let all = fake.instagramMessages()
                if all.count > seen {
                    // Texts only: typing indicators are not answers.
                    waiter.observe(all[seen...].compactMap { $0["message"] != nil ? $0["recipient"]?["id"]?.idString : nil })
                    seen = all.count
                }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        defer { poller.cancel() }

        let run = String(Int(Date().timeIntervalSince1970))
        let base = nowMillis()
        let senders = (0..<threads).map { String(1_900_000_000_000_000 + Int64($0)) }
        let latencies = Locked<[Double]>([])
        let errors = Locked<[String]>([])
        let url = daemonURL + "/webhooks/instagram"
        var clientConfig = HTTPClient.Configuration()
        clientConfig.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfig)
        let secret = self.secret
        let messages = self.messages
        let deadline = Date().addingTimeInterval(timeout)
        // The load generator shares the machine with the daemon: build and sign every webhook before the clock
        // starts, so the timed part spends no CPU on JSON encoding or HMACs of its own.
        let requests: [[HTTPClientRequest]] = senders.enumerated().map { t, sender in
            (1...messages).map { k in
                let body = WebhookBuilder.textMessage(
                    from: sender, text: "hello \(Self.question(k)) from customer \(t)", mid: "m_br_\(run)_\(t)_\(k)",
                    timestamp: base + EpochMillis(k))
                var req = HTTPClientRequest(url: url)
                req.method = .POST
                req.headers.add(name: "Content-Type", value: "application/json")
                req.headers.add(name: "X-Hub-Signature-256", value: WebhookSignature.header(secret: secret, body: body))
                req.body = .bytes(ByteBuffer(bytes: body))
                return req
            }
        }
        log("driving \(threads) customers × \(messages) messages")
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for (t, sender) in senders.enumerated() {
                let mine = requests[t]
                group.addTask {
                    for k in 1...messages {
                        let req = mine[k - 1]
                        let sent = ContinuousClock.now
                        var posted = false
                        for _ in 0..<5 where !posted {
                            if let r = try? await client.execute(req, timeout: .seconds(30)) {
                                _ = try? await r.body.collect(upTo: 1 << 16)
                                posted = r.status == .ok
                            }
                        }
                        if !posted {
                            errors.withLock { $0.append("customer \(t) message \(k): webhook not accepted") }
                            return
                        }
                        let got = await waiter.wait(for: sender, count: k, deadline: deadline)
                        if !got {
                            errors.withLock { $0.append("customer \(t): no answer to message \(k) before the timeout") }
                            return
                        }
                        let d = ContinuousClock.now - sent
                        latencies.withLock { $0.append(d.seconds * 1000) }
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        try? await client.shutdown()
        await model?.stop()
        let seconds = elapsed.seconds

        // Late duplicates would show up after the last answer: give the daemon a moment, then check everything.
        try await Task.sleep(for: .milliseconds(1500))
        var byRecipient: [String: [String]] = [:]
        for body in fake.instagramMessages() {
            guard let to = body["recipient"]?["id"]?.idString, let text = body["message"]?["text"]?.stringValue else { continue }
            byRecipient[to, default: []].append(text)
        }
        let expected = (1...messages).map(Self.answer)
        var wrong = 0, missing = 0, duplicate = 0, outOfOrder = 0
        for sender in senders {
            let got = byRecipient[sender] ?? []
            if got == expected { continue }
            wrong += 1
            if got.count < expected.count { missing += expected.count - got.count }
            if Set(got).count < got.count { duplicate += got.count - Set(got).count }
            if Set(got) == Set(expected) && got != expected { outOfOrder += 1 }
        }
        let total = byRecipient.values.reduce(0) { $0 + $1.count }
        let store = try SQLiteStore(dataDir: storeDir)
        let counts = try await store.processingCounts()
        let outbox = try await store.outboxCounts().filter { $0.key != .sent }.values.reduce(0, +)
        let sorted = latencies.withLock { $0 }.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        let rate = Double(total) / max(seconds, 0.001)
        let errs = errors.withLock { $0 }

        let ok = wrong == 0 && errs.isEmpty && total == threads * messages && (counts[.pending] ?? 0) == 0
            && (counts[.failed] ?? 0) == 0 && (counts[.processing] ?? 0) == 0 && outbox == 0
        let fast = rate >= minRate
        print("")
        print("dmdesk reply benchmark (\(model == nil ? "rules" : "agent, local stand-in model") responder) — \(ProcessInfo.processInfo.activeProcessorCount) cores, \(threads) customers × \(messages) messages, zero debounce window")
        print("")
        print(String(format: "  replies sent              %d in %.2f s", total, seconds))
        print(String(format: "  replies/s                 %.0f   (bar: >= %.0f)  %@", rate, minRate, fast ? "yes" : "NO"))
        print(String(format: "  answer latency ms         p50 %.1f   p99 %.1f   max %.1f", pct(0.5), pct(0.99), sorted.last ?? 0))
        print("  every customer exactly its answers, in order?  \(wrong == 0 && errs.isEmpty ? "yes" : "NO")  (\(wrong) wrong: \(missing) missing, \(duplicate) duplicate, \(outOfOrder) out of order)")
        print("  store: inbound \(counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ")), outbox rows not sent: \(outbox)")
        for e in errs.prefix(5) { print("  error: \(e)") }
        print("")
        print("  \(ok && fast ? "PASS" : "FAIL")")
        print(String(format: "BENCH rate=%.1f ok=%d", rate, ok ? 1 : 0))
        print("")
        throw ExitCode(ok && fast ? 0 : 1)
    }

    static func benchModel(_ request: JSONValue) -> FakeChatCompletions.Answer {
        let last = request["messages"]?.arrayValue?.last
        guard last?["role"]?.stringValue == "user", let text = last?["content"]?.stringValue,
            let range = text.range(of: #"bench-q[0-9]+"#, options: .regularExpression), let k = Int(text[range].dropFirst(7))
        else { return .text("") }
        return .tools([.init("send_message", ["text": .string(answer(k))])])
    }

    func log(_ s: String) { FileHandle.standardError.write(Data("bench-replies: \(s)\n".utf8)) }
}

final class Locked<T: Sendable>: Sendable {
    private let value: Mutex<T>
    init(_ v: T) { value = Mutex(v) }
    func withLock<R>(_ body: (inout T) -> R) -> R { value.withLock { body(&$0) } }
}

/// Counts the answers each recipient received and wakes whoever waits for the n-th.
final class ReplyWaiter: Sendable {
    private struct State {
        var counts: [String: Int] = [:]
        var waiters: [String: [(Int, CheckedContinuation<Bool, Never>)]] = [:]
    }
    private let state = Mutex(State())

    func observe(_ recipients: [String]) {
        var wake: [CheckedContinuation<Bool, Never>] = []
        state.withLock { s in
            for r in recipients {
                let n = (s.counts[r] ?? 0) + 1
                s.counts[r] = n
                if var list = s.waiters[r] {
                    list.removeAll { need, c in
                        if need <= n { wake.append(c); return true }
                        return false
                    }
                    s.waiters[r] = list.isEmpty ? nil : list
                }
            }
        }
        for c in wake { c.resume(returning: true) }
    }

    func wait(for recipient: String, count: Int, deadline: Date) async -> Bool {
        let timer = Task {
            try? await Task.sleep(for: .seconds(max(deadline.timeIntervalSinceNow, 0)))
            self.expire(recipient)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { c in
            let ready = state.withLock { s -> Bool in
                if (s.counts[recipient] ?? 0) >= count { return true }
                s.waiters[recipient, default: []].append((count, c))
                return false
            }
            if ready { c.resume(returning: true) }
        }
    }

    private func expire(_ recipient: String) {
        let list = state.withLock { s in s.waiters.removeValue(forKey: recipient) ?? [] }
        for (_, c) in list { c.resume(returning: false) }
    }
}
