import ArgumentParser
import DMDeskConsole
import DMDeskCore
import DMDeskDaemon
import DMDeskDemo
import DMDeskStore
import Foundation

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Try dmdesk with no account and no network: simulated customers, a local Graph API stand-in.",
        discussion: """
            Starts a daemon on a temporary data directory, a local stand-in for Instagram's Graph API and \
            WhatsApp, starter reply rules, its own redis-server when one is installed, and a simulator that \
            posts signed webhooks from several customers: a short script, then new customers every few seconds for as \
            long as it runs (--no-crowd: the script only). With --agent a local stand-in model answers through \
            the agent responder's tools, and its steps show in the conversation. Everything you do in the console (take over, reply, \
            react, notify the manager) really happens against the stand-in. Press ? in the console for keys. \
            The demo configures itself: --config is not read.
            """)

    @Option(help: "How much faster than a human pace the customers write (e.g. 5).")
    var speed: Double = 1

    @Flag(name: .long, help: "Run without the console: print what happens (for scripts and screenshots).")
    var headless = false

    @Flag(name: .customLong("crowd"), inversion: .prefixedNo,
          help: "After the script, keep new customers coming (a new conversation every few seconds at --speed 1).")
    var crowd = true

    @Option(help: ArgumentHelp("With --headless: stop after this many seconds (default: when the script has played, or never with the crowd).",
                               valueName: "seconds"))
    var duration: Double?

    @Flag(name: .long, help: "Let the agent responder answer (a local stand-in model) instead of the keyword rules.")
    var agent = false

    /// `--data-dir` and `--socket` (a plain `@Option` here would lose `--data-dir` to the root command's group).
    @OptionGroup var global: GlobalOptions

    @OptionGroup var flags: ConsoleFlags

    func validate() throws {
        guard speed > 0 && speed <= 1000 else { throw ValidationError("--speed must be between 0 and 1000") }
        if let duration {
            guard headless else { throw ValidationError("--duration needs --headless (in the console, q stops the demo)") }
            guard duration > 0 else { throw ValidationError("--duration must be a positive number of seconds") }
        }
    }

    func run() async throws {
        let dir = global.dataDir ?? (NSTemporaryDirectory() + "dmdesk-demo-\(getpid())")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let logger = bootstrapFileLogging(path: dir + "/dmdesk.log", level: "info")

        var redis: RedisServer? = nil
        var redisURL = "redis://127.0.0.1:1"
        if RedisServer.executable() != nil, let server = try? RedisServer(), (try? server.start()) != nil {
            redis = server
            redisURL = server.url
        }
        let fake = FakeGraphAPI(expectedToken: "demo-token", profiles: Dictionary(
            uniqueKeysWithValues: DemoScript.customers.map { ($0.id, (name: Optional($0.name), username: Optional($0.username))) }))
        do { try await fake.start() } catch { fail("could not start the Graph API stand-in: \(error)") }

        var model: FakeChatCompletions? = nil
        if agent {
            let standIn = FakeChatCompletions(brain: DemoModel.answer, latency: .milliseconds(Int(600 / speed)))
            do { _ = try await standIn.start() } catch { fail("could not start the model stand-in: \(error)") }
            model = standIn
        }

        let secret = "demo-app-secret"
        let delayMin = Int(1500 / speed), delayMax = Int(4000 / speed)
        var env: [String: String] = [
            "INSTAGRAM_APP_SECRET": secret, "INSTAGRAM_VERIFY_TOKEN": "demo-verify", "INSTAGRAM_ACCESS_TOKEN": "demo-token",
            "INSTAGRAM_ACCOUNT_ID": WebhookBuilder.accountId, "INSTAGRAM_API_BASE_URL": fake.instagramBaseURL,
            "WHATSAPP_API_BASE_URL": fake.whatsappBaseURL, "WHATSAPP_PHONE_NUMBER_ID": "demo-phone",
            "MANAGER_WHATSAPP_NUMBER": "+15550100", "REDIS_URL": redisURL, "HOST": "127.0.0.1", "PORT": "0",
            "DMDESK_DATA_DIR": dir, "DMDESK_SOCKET": global.socket ?? dir + "/dmdesk.sock", "DMDESK_REPLY_DELAY_MS": "\(delayMin)-\(delayMax)",
            "DMDESK_THEME": ProcessInfo.processInfo.environment["DMDESK_THEME"] ?? "default", "HOME": NSHomeDirectory(),
        ]
        if let model {
            env["DMDESK_RESPONDER"] = "agent"
            env["DMDESK_LLM_BASE_URL"] = try await model.start()
            env["DMDESK_LLM_MODEL"] = "demo-model"
        }
        let config: DMDeskConfig
        do { config = try DMDeskConfig(ResolvedConfig.load(environment: env, configFile: nil, dotenvPath: nil), environment: env) } catch {
            fail("\(error)")
        }
        let embedded: EmbeddedDaemon
        do { embedded = try await EmbeddedDaemon(config: config, options: DaemonOptions(), logger: logger) } catch {
            fail("could not start the demo daemon: \(error) (log: \(dir)/dmdesk.log)")
        }
        // As with Meta: every message the app sends comes back as an echo webhook (sent, not typed in the app).
        fake.deliverEchoes(FakeGraphAPI.EchoDelivery(
            webhookURL: "http://127.0.0.1:\(embedded.port)/webhooks/instagram", appSecret: secret,
            accountId: WebhookBuilder.accountId))
        await DemoSetup.seedRules(embedded.daemon.runtime)
        let simulator = DemoSimulator(listenerURL: "http://127.0.0.1:\(embedded.port)", appSecret: secret, speed: speed)
        let simulation = Task {
            await simulator.run(
                crowd: crowd ? DemoCrowd() : nil,
                introduce: { customer in fake.setProfile(customer.id, name: customer.name, username: customer.username) },
                comment: { id, from in fake.addComment(id, fromId: from) })
        }

        let status: Int32
        if headless {
            print("demo daemon on 127.0.0.1:\(embedded.port), socket \(config.socketPath); Ctrl-C stops")
            if let duration {
                try? await Task.sleep(for: .milliseconds(Int(duration * 1000)))
                simulation.cancel()
            }
            _ = await simulation.value
            try? await Task.sleep(for: .milliseconds(Int(Double(delayMax) * 1.5)))
            status = 0
        } else {
            let options = flags.options(socketPath: config.socketPath, config: config, requireDaemon: true)
            status = await runOnOwnThread { ConsoleApp.run(options) }
        }
        simulation.cancel()
        await embedded.stop()
        await fake.stop()
        await model?.stop()
        redis?.stop()
        if global.dataDir == nil { try? FileManager.default.removeItem(atPath: dir) }
        throw ExitCode(status)
    }
}

enum DemoSetup {
    /// The shop starter rules (`dmdesk rules seed`), so the bot has something to say.
    static func seedRules(_ runtime: DaemonRuntime) async {
        _ = try? await runtime.store.seedRules()
        // A comment rule, so the demo's "PRICE?" comment is answered with a private reply.
        let rules = (try? await runtime.store.rules(includeInactive: true)) ?? []
        if !rules.contains(where: { $0.scope == .comments && $0.pattern == commentRule.pattern }) {
            _ = try? await runtime.store.addRule(commentRule)
        }
    }

    static let commentRule = RuleRecord(
        pattern: "price|how much", matchKind: .regex,
        reply: "Hi! 👋 Thanks for your comment — we've sent you the prices here in your DMs. Which size would you like?",
        priority: 50, action: .reply, scope: .comments)
}
