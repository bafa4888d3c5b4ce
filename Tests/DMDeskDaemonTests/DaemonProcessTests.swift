import AsyncHTTPClient
import DMDeskCore
import NIOCore
@testable import DMDeskStore
import DMDeskTesting
import Foundation
import GRDB
import Testing

/// The real `dmdesk --daemon` process: what a server runs.
@Suite("dmdesk --daemon as a process", .enabled(if: dmdeskExecutable() != nil))
struct DaemonProcessTests {
    final class DaemonProcess: @unchecked Sendable {
        let process = Process()
        let stderr = Pipe()
        let port: Int
        let dataDir: String

        /// `port`: the listener's port (a restart keeps its webhook URL); a free one when nil.
        init(redisURL: String, dataDir: String, extraEnv: [String: String] = [:], port: Int? = nil) throws {
            if let port { self.port = port } else { self.port = try freeTCPPort() }
            self.dataDir = dataDir
            process.executableURL = URL(fileURLWithPath: try #require(dmdeskExecutable()))
            process.arguments = ["--daemon", "--port", String(self.port), "--data-dir", dataDir, "--log-level", "info"]
            process.currentDirectoryURL = URL(fileURLWithPath: dataDir)
            var env = [
                "HOME": dataDir, "PATH": "/usr/bin:/bin", "INSTAGRAM_APP_SECRET": WebhookFixture.appSecret,
                "INSTAGRAM_ACCESS_TOKEN": "secret-token-value-xyz", "REDIS_URL": redisURL,
                "DMDESK_SOCKET": dataDir + "/dmdesk.sock", "DMDESK_REPLY_DELAY_MS": "600000",
                // As in DaemonHarness: these tests count the replies' Graph calls.
                "DMDESK_TYPING": "false",
            ]
            env.merge(extraEnv) { _, new in new }
            process.environment = env
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        func waitForHealth() async -> Bool {
            await eventually { (try? await self.get("/health")) == 200 }
        }

        /// Starts the process and waits until /health answers (failing the test if it never does).
        static func started(redisURL: String, dataDir: String, extraEnv: [String: String] = [:], port: Int? = nil)
            async throws -> DaemonProcess
        {
            let daemon = try DaemonProcess(redisURL: redisURL, dataDir: dataDir, extraEnv: extraEnv, port: port)
            #expect(await daemon.waitForHealth())
            return daemon
        }

        func get(_ path: String) async throws -> Int {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }

        func post(_ body: Data) async throws -> Int {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/webhooks/instagram")
            request.method = .POST
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "X-Hub-Signature-256", value: WebhookBuilder.sign(body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }

        enum Ending: Equatable { case exited(Int32), signalled(Int32), stillRunning }

        /// Sends a signal and waits for the process to end (polling off the cooperative pool).
        func signalAndWait(_ signal: Int32) async throws -> Ending {
            kill(process.processIdentifier, signal)
            let process = self.process
            return try await onThread {
                let deadline = Date().addingTimeInterval(15)
                while process.isRunning && Date() < deadline { usleep(10_000) }
                if process.isRunning { return .stillRunning }
                return process.terminationReason == .uncaughtSignal ? .signalled(process.terminationStatus) : .exited(process.terminationStatus)
            }
        }

        func log() -> String {
            String(decoding: stderr.fileHandleForReading.availableData, as: UTF8.self)
        }
    }

    @Test("every delivery answered 200 survives kill -9; a restart on the same data directory serves it")
    func killNine() async throws {
        try await withRedis { redis in
            let dir = try makeTempDirectory()
            let daemon = try await DaemonProcess.started(redisURL: redis.url, dataDir: dir)
            var accepted: [String] = []
            for i in 0..<60 {
                let mid = "kill9.\(i)"
                let body = WebhookBuilder.textMessage(from: "700\(i % 7)", text: "durable \(i)", mid: mid)
                if try await daemon.post(body) == 200 { accepted.append(mid) }
            }
            #expect(accepted.count == 60)
            #expect(try await daemon.signalAndWait(SIGKILL) == .signalled(SIGKILL))

            let store = try SQLiteStore(dataDir: dir)
            let stored = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT mid FROM messages WHERE direction = 'in'") }
            #expect(Set(stored) == Set(accepted), "every 200 is on disk")
            try await store.close()

            let again = try await DaemonProcess.started(redisURL: redis.url, dataDir: dir)
            let redelivered = try await again.post(WebhookBuilder.textMessage(from: "7000", text: "durable 0", mid: "kill9.0"))
            #expect(redelivered == 200)
            _ = try await again.signalAndWait(SIGTERM)
        }
    }

    @Test("SIGTERM: graceful stop, exit 0; the log names Redis and never a secret")
    func sigterm() async throws {
        try await withRedis { redis in
            let dir = try makeTempDirectory()
            let daemon = try await DaemonProcess.started(redisURL: redis.url, dataDir: dir)
            let first = try await daemon.post(WebhookBuilder.textMessage(from: "1", text: "hi", mid: "term.1"))
            #expect(first == 200)
            #expect(try await daemon.signalAndWait(SIGTERM) == .exited(0), "graceful stop exits 0")
            let log = daemon.log()
            #expect(log.contains("Redis connected"))
            #expect(!log.contains(WebhookFixture.appSecret))
            #expect(!log.contains("secret-token-value-xyz"))
        }
    }

    @Test("start-up errors are one clear line and a non-zero exit")
    func startupErrors() async throws {
        let dir = try makeTempDirectory()
        let (badPort, _, portErr) = try await onThread { try runDmdesk(["--daemon", "--port", "99999", "--data-dir", dir], cwd: dir) }
        #expect(badPort != 0 && portErr.contains("port"))
        let (noSecret, _, secretErr) = try await onThread {
            try runDmdesk(["--daemon", "--port", "0", "--data-dir", dir], cwd: dir)
        }
        #expect(noSecret != 0)
        #expect(secretErr.contains("INSTAGRAM_APP_SECRET") && secretErr.split(separator: "\n").count == 1)
        let file = dir + "/not-a-dir"
        FileManager.default.createFile(atPath: file, contents: Data())
        let (badDir, _, dirErr) = try await onThread {
            try runDmdesk(["--daemon", "--port", "0", "--allow-unsigned", "--data-dir", file + "/sub"], cwd: dir)
        }
        #expect(badDir != 0 && dirErr.contains("data directory"), "\(dirErr)")
        let (noModel, _, modelErr) = try await onThread {
            try runDmdesk(["--daemon", "--port", "0", "--allow-unsigned", "--data-dir", dir], cwd: dir, env: ["DMDESK_RESPONDER": "agent"])
        }
        #expect(noModel != 0 && modelErr.contains("DMDESK_LLM_BASE_URL") && modelErr.split(separator: "\n").count == 1, "\(modelErr)")
        let (noPrompt, _, promptErr) = try await onThread {
            try runDmdesk(
                ["--daemon", "--port", "0", "--allow-unsigned", "--data-dir", dir], cwd: dir,
                env: ["DMDESK_RESPONDER": "agent", "DMDESK_LLM_BASE_URL": "http://127.0.0.1:1/v1", "DMDESK_LLM_MODEL": "m",
                      "DMDESK_LLM_PROMPT_FILE": dir + "/missing-prompt.md"])
        }
        #expect(noPrompt != 0 && promptErr.contains("missing-prompt.md"), "\(promptErr)")
    }

    @Test("the agent's endpoint down: the rules answer, and the API key never reaches the log")
    func agentEndpointDown() async throws {
        try await withRedis { redis in
            let dir = try makeTempDirectory()
            let daemon = try DaemonProcess(
                redisURL: redis.url, dataDir: dir,
                extraEnv: [
                    "DMDESK_RESPONDER": "agent", "DMDESK_LLM_BASE_URL": "http://127.0.0.1:1/v1", "DMDESK_LLM_MODEL": "m",
                    "DMDESK_LLM_API_KEY": "sk-agent-secret-key-123", "DMDESK_REPLY_DELAY_MS": "0",
                ])
            #expect(await daemon.waitForHealth())
            #expect(try await daemon.post(WebhookBuilder.textMessage(from: "77", text: "hello?", mid: "agent.down.1")) == 200)
            #expect(await eventually { daemon.log().contains("agent endpoint failed") }, "\(daemon.log())")
            #expect(try await daemon.signalAndWait(SIGTERM) == .exited(0))
            #expect(!daemon.log().contains("sk-agent-secret-key-123"))
        }
    }
}
