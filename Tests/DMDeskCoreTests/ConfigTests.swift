import DMDeskCore
import Foundation
import Testing

@Suite("Configuration: precedence, aliases, validation, masking")
struct ConfigTests {
    func load(_ env: [String: String], file: String? = nil, dotenv: String? = nil) throws -> ResolvedConfig {
        var dotenvPath: String? = nil
        if let dotenv {
            dotenvPath = NSTemporaryDirectory() + "dmdesk-dotenv-\(UUID().uuidString)"
            try dotenv.write(toFile: dotenvPath!, atomically: true, encoding: .utf8)
        }
        return try ResolvedConfig.load(environment: env, configFile: file, dotenvPath: dotenvPath)
    }

    func tomlFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "dmdesk-\(UUID().uuidString).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("defaults apply when nothing is set")
    func defaults() throws {
        let c = try DMDeskConfig(load(["HOME": "/home/x"]), environment: ["HOME": "/home/x"])
        #expect(c.port == 8080 && c.host == "127.0.0.1")
        #expect(c.apiBaseURL == "https://graph.instagram.com/v24.0")
        #expect(c.redis == RedisEndpoint(host: "127.0.0.1", port: 6379))
        #expect(c.dataDir == "/home/x/.local/state/dmdesk")
        #expect(c.socketPath == "/home/x/.local/state/dmdesk/dmdesk.sock")
        #expect(c.replyDelay == MillisRange(min: 5000, max: 15000))
        #expect(c.logFormat == .text)
    }

    @Test("printing a configuration, or anything holding one, shows no secret")
    func describedWithoutSecrets() throws {
        let env = [
            "HOME": "/home/x", "INSTAGRAM_ACCESS_TOKEN": "IGAAsecret-access", "INSTAGRAM_APP_SECRET": "app-secret-value",
            "INSTAGRAM_VERIFY_TOKEN": "verify-secret", "WHATSAPP_ACCESS_TOKEN": "wa-secret", "DMDESK_LLM_API_KEY": "llm-secret",
            "REDIS_URL": "redis://:redis-password@127.0.0.1:6379/0", "DMDESK_TOKEN_REFRESH": "auto",
        ]
        let c = try DMDeskConfig(load(env), environment: env)
        #expect(c.tokenRefresh == .auto)
        struct Holder { let config: DMDeskConfig }
        for text in [String(describing: c), String(reflecting: c), String(describing: Holder(config: c)), "\(c)"] {
            for secret in ["IGAAsecret-access", "app-secret-value", "verify-secret", "wa-secret", "llm-secret", "redis-password"] {
                #expect(!text.contains(secret), "\(secret) in \(text)")
            }
            #expect(text.contains("/home/x/.local/state/dmdesk"))
        }
    }

    @Test("XDG directories are honoured")
    func xdg() throws {
        let env = ["XDG_STATE_HOME": "/s", "XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/h"]
        let c = try DMDeskConfig(load(env), environment: env)
        #expect(c.dataDir == "/s/dmdesk")
        #expect(c.socketPath == "/run/user/1000/dmdesk/dmdesk.sock")
    }

    @Test("aliases are accepted; the canonical name wins over an alias")
    func aliases() throws {
        var r = try load(["IG_VERIFY_TOKEN": "a", "FACEBOOK_APP_SECRET": "s", "INSTAGRAM_PAGE_ID": "p"])
        #expect(r["INSTAGRAM_VERIFY_TOKEN"] == "a")
        #expect(r.values["INSTAGRAM_VERIFY_TOKEN"]?.origin == "IG_VERIFY_TOKEN")
        #expect(r["INSTAGRAM_APP_SECRET"] == "s")
        #expect(r["INSTAGRAM_ACCOUNT_ID"] == "p")
        r = try load(["INSTAGRAM_WEBHOOK_VERIFICATION_TOKEN": "old", "INSTAGRAM_VERIFY_TOKEN": "new"])
        #expect(r["INSTAGRAM_VERIFY_TOKEN"] == "new")
    }

    @Test("flags > environment > .env > config file > defaults")
    func precedence() throws {
        let file = try tomlFile("port = 9001\nhost = \"0.0.0.0\"\ninstagram_verify_token = \"from-file\"\nDMDESK_FALLBACK_REPLY = \"file reply\"\n")
        var r = try load(["PORT": "9002"], file: file, dotenv: "PORT=9003\nHOST=10.0.0.1\nexport INSTAGRAM_APP_SECRET='dot secret'\n")
        #expect(r["PORT"] == "9002", "environment beats .env and file")
        #expect(r["HOST"] == "10.0.0.1", ".env beats the file")
        #expect(r["INSTAGRAM_APP_SECRET"] == "dot secret")
        #expect(r["INSTAGRAM_VERIFY_TOKEN"] == "from-file")
        #expect(r["DMDESK_FALLBACK_REPLY"] == "file reply")
        r.override("PORT", with: "9004", flag: "--port")
        #expect(r["PORT"] == "9004")
        #expect(r.values["PORT"]?.source == .flag)
    }

    @Test("an invalid value is one line naming the variable and what is wrong", arguments: [
        (["PORT": "80a"], "PORT"), (["PORT": "70000"], "PORT"), (["REDIS_URL": "http://x"], "REDIS_URL"),
        (["INSTAGRAM_API_BASE_URL": "not a url"], "INSTAGRAM_API_BASE_URL"), (["DMDESK_REPLY_DELAY_MS": "9-3"], "DMDESK_REPLY_DELAY_MS"),
        (["DMDESK_ONBOARDING": "maybe"], "DMDESK_ONBOARDING"), (["DMDESK_LOG_LEVEL": "loud"], "DMDESK_LOG_LEVEL"),
        (["DMDESK_LOG_FORMAT": "xml"], "DMDESK_LOG_FORMAT"), (["DMDESK_TOKEN_REFRESH": "sometimes"], "DMDESK_TOKEN_REFRESH"),
    ])
    func invalid(env: [String: String], name: String) throws {
        let r = try load(env)
        do {
            _ = try DMDeskConfig(r)
            Issue.record("expected \(name) to be rejected")
        } catch {
            #expect("\(error)".contains(name))
            #expect(!"\(error)".contains("\n"))
        }
    }

    @Test("an unknown key in the config file is refused, naming it")
    func unknownFileKey() throws {
        let file = try tomlFile("prot = 1\n")
        #expect(throws: ConfigError.self) { try load([:], file: file) }
        do { _ = try load([:], file: file) } catch { #expect("\(error)".contains("prot")) }
    }

    @Test("redis URL: password and db number are honoured")
    func redisURL() throws {
        let e = try RedisEndpoint(url: "redis://:s3cret@cache.local:6380/3")
        #expect(e == RedisEndpoint(host: "cache.local", port: 6380, password: "s3cret", username: nil, db: 3))
        #expect(try RedisEndpoint(url: "redis://user:pw@h/0").username == "user")
    }

    @Test("`dmdesk config` masks secrets and says where each value came from")
    func describeMasks() throws {
        let r = try load(["INSTAGRAM_APP_SECRET": "super-secret-value", "FACEBOOK_VERIFY_TOKEN": "vt-123456", "PORT": "9999"])
        let text = r.describe()
        #expect(!text.contains("super-secret-value"))
        #expect(!text.contains("vt-123456"))
        #expect(text.contains("INSTAGRAM_APP_SECRET"))
        #expect(text.contains("environment FACEBOOK_VERIFY_TOKEN"))
        #expect(text.contains("9999  [environment]"))
        #expect(text.contains("[default]"))
    }
}

@Suite struct DefaultSocketPathTests {
    @Test func prefersTheRuntimeDirectory() {
        #expect(DMDeskConfig.defaultSocketPath(dataDir: "/var/lib/dmdesk", environment: ["XDG_RUNTIME_DIR": "/run/user/1000/"])
            == "/run/user/1000/dmdesk/dmdesk.sock")
    }

    @Test func fallsBackToTheDataDirectory() {
        #expect(DMDeskConfig.defaultSocketPath(dataDir: "/var/lib/dmdesk/", environment: [:]) == "/var/lib/dmdesk/dmdesk.sock")
        #expect(DMDeskConfig.defaultSocketPath(dataDir: "/d", environment: ["XDG_RUNTIME_DIR": ""]) == "/d/dmdesk.sock")
        let tooLong = "/" + String(repeating: "x", count: 120)
        #expect(DMDeskConfig.defaultSocketPath(dataDir: "/d", environment: ["XDG_RUNTIME_DIR": tooLong]) == "/d/dmdesk.sock")
    }
}
