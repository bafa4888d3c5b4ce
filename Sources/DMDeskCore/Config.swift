import Foundation
import TOMLKit

/// Where an effective configuration value came from, lowest precedence first.
public enum ConfigSource: String, Sendable, Comparable {
    case defaultValue = "default"
    case file = "config file"
    case dotenv = ".env"
    case environment = "environment"
    case flag = "flag"

    private var rank: Int {
        switch self {
        case .defaultValue: return 0
        case .file: return 1
        case .dotenv: return 2
        case .environment: return 3
        case .flag: return 4
        }
    }
    public static func < (a: ConfigSource, b: ConfigSource) -> Bool { a.rank < b.rank }
}

/// One configuration setting: its canonical variable name, the names earlier deployments used, and how to check it.
public struct ConfigKey: Sendable {
    public var name: String
    public var aliases: [String]
    public var defaultValue: String?
    public var secret: Bool
    public var help: String
    /// Returns a reason when the value is unusable.
    public var validate: @Sendable (String) -> String?

    public init(
        _ name: String, aliases: [String] = [], default defaultValue: String? = nil, secret: Bool = false, help: String,
        validate: @escaping @Sendable (String) -> String? = { _ in nil }
    ) {
        self.name = name
        self.aliases = aliases
        self.defaultValue = defaultValue
        self.secret = secret
        self.help = help
        self.validate = validate
    }
}

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

enum ConfigChecks {
    static func port(_ v: String) -> String? {
        guard let n = Int(v), (0...65535).contains(n) else { return "must be a port number 0-65535, got '\(v)'" }
        return nil
    }
    static func url(_ v: String) -> String? {
        guard let u = URL(string: v), let scheme = u.scheme, ["http", "https"].contains(scheme.lowercased()), u.host != nil
        else { return "must be an http(s) URL, got '\(URLSecrets.masking(url: v))'" }
        return nil
    }
    static func redisURL(_ v: String) -> String? {
        guard (try? RedisEndpoint(url: v)) != nil else {
            return "must look like redis://[:password@]host[:port][/db], got '\(URLSecrets.masking(url: v))'"
        }
        return nil
    }
    static func bool(_ v: String) -> String? {
        parseBool(v) == nil ? "must be true or false, got '\(v)'" : nil
    }
    static func oneOf(_ options: [String]) -> @Sendable (String) -> String? {
        { v in options.contains(v.lowercased()) ? nil : "must be one of \(options.joined(separator: ", ")), got '\(v)'" }
    }
    static func millisRange(_ v: String) -> String? {
        MillisRange(v) == nil ? "must be MIN-MAX milliseconds (e.g. 5000-15000) or one number, got '\(v)'" : nil
    }
    static func positiveInt(_ v: String) -> String? {
        guard let n = Int(v), n > 0 else { return "must be a positive whole number, got '\(v)'" }
        return nil
    }
    static func period(_ v: String) -> String? {
        if case .failure(let e) = RetentionPeriod.parse(v) { return e.message }
        return nil
    }
    static func periodOrOff(_ v: String) -> String? {
        v.lowercased() == "off" ? nil : period(v).map { $0 + ", or off" }
    }
    static func businessHours(_ v: String) -> String? {
        if case .failure(let e) = BusinessHours.parse(v, timeZone: TimeZone(identifier: "UTC")!) { return e.message }
        return nil
    }
    static func timeZone(_ v: String) -> String? {
        TimeZone(identifier: v) == nil ? "'\(v)' is not an IANA time zone name (like Europe/Lisbon or America/New_York)" : nil
    }
    static func metricsAddress(_ v: String) -> String? {
        if v.lowercased() == "off" { return nil }
        return HostPort.parse(v) == nil ? "must be off or HOST:PORT (like 127.0.0.1:9464), got '\(v)'" : nil
    }
    static func logLevel(_ v: String) -> String? {
        oneOf(["trace", "debug", "info", "notice", "warning", "error", "critical"])(v)
    }
}

/// How log lines are written (`DMDESK_LOG_FORMAT`).
/// `DMDESK_TOKEN_REFRESH`: `auto` refreshes an Instagram-login long-lived token ten days before it expires.
public enum TokenRefreshMode: String, CaseIterable, Sendable {
    case off, auto
}

public enum LogFormat: String, CaseIterable, Sendable {
    case text, json
}

public func parseBool(_ v: String) -> Bool? {
    switch v.lowercased() {
    case "1", "true", "yes", "on": return true
    case "0", "false", "no", "off": return false
    default: return nil
    }
}

/// A `MIN-MAX` millisecond range such as the reply debounce window.
public struct MillisRange: Sendable, Equatable, CustomStringConvertible {
    public var min: Int
    public var max: Int
    public init(min: Int, max: Int) {
        self.min = min
        self.max = max
    }
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if parts.count == 1, let n = Int(parts[0]), n >= 0 {
            self.init(min: n, max: n)
        } else if parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, b >= a {
            self.init(min: a, max: b)
        } else {
            return nil
        }
    }
    public var description: String { "\(min)-\(max)" }
    public func random() -> Int { min == max ? min : Int.random(in: min...max) }
}

/// Every setting dmdesk reads, in the order `dmdesk config` prints them.
public enum ConfigKeys {
    public static let all: [ConfigKey] = [
        ConfigKey(
            "INSTAGRAM_VERIFY_TOKEN",
            aliases: ["IG_VERIFY_TOKEN", "FACEBOOK_VERIFY_TOKEN", "INSTAGRAM_WEBHOOK_VERIFICATION_TOKEN"], secret: true,
            help: "token Meta echoes in the webhook verification handshake"),
        ConfigKey("INSTAGRAM_APP_SECRET", aliases: ["FACEBOOK_APP_SECRET"], secret: true, help: "app secret that signs webhooks (X-Hub-Signature-256)"),
        ConfigKey("INSTAGRAM_ACCESS_TOKEN", aliases: ["INSTAGRAM_PAGE_ACCESS_TOKEN"], secret: true, help: "Graph API token used to send messages"),
        ConfigKey("INSTAGRAM_ACCOUNT_ID", aliases: ["INSTAGRAM_PAGE_ID", "INSTAGRAM_SCOPED_ID"], help: "your Instagram professional account id"),
        ConfigKey("INSTAGRAM_API_BASE_URL", default: "https://graph.instagram.com/v24.0", help: "Graph API base URL", validate: ConfigChecks.url),
        ConfigKey("REDIS_URL", default: "redis://127.0.0.1:6379", help: "Redis for rolling conversation context", validate: ConfigChecks.redisURL),
        ConfigKey("HOST", default: "127.0.0.1", help: "address the webhook listener binds"),
        ConfigKey("PORT", default: "8080", help: "port the webhook listener binds (0 picks a free one)", validate: ConfigChecks.port),
        ConfigKey("DMDESK_MAX_CONNECTIONS", default: "512", help: "open HTTP connections at most (idle ones are closed for new ones; lowered to fit the descriptor limit)", validate: ConfigChecks.positiveInt),
        ConfigKey("DMDESK_IDLE_TIMEOUT_MS", default: "30000", help: "an HTTP connection with no request in progress is closed after this long", validate: ConfigChecks.positiveInt),
        ConfigKey("DMDESK_REQUEST_TIMEOUT_MS", default: "30000", help: "a request's head and body must arrive within this long of its first byte", validate: ConfigChecks.positiveInt),
        ConfigKey("DMDESK_MIN_FREE_DISK_MB", default: "256", help: "/health is degraded with less free space than this in the data directory", validate: ConfigChecks.positiveInt),
        ConfigKey("DMDESK_QUICK_CHECK_INTERVAL_MS", default: "300000", help: "how often SQLite's PRAGMA quick_check runs (on its own connection)", validate: ConfigChecks.positiveInt),
        ConfigKey("DMDESK_JOURNAL_RETENTION", default: "30d", help: "events older than this leave the journal (a console resuming from before gets resync); e.g. 30d, 12h, 90m", validate: ConfigChecks.period),
        ConfigKey("DMDESK_MESSAGE_RETENTION", default: "off", help: "off, or delete whole conversations whose last message is older than this (SQLite and Redis)", validate: ConfigChecks.periodOrOff),
        ConfigKey("DMDESK_PRUNE_INTERVAL", default: "10m", help: "how often the retention pass runs (in bounded batches)", validate: ConfigChecks.period),
        ConfigKey("DMDESK_WEBHOOK_SILENCE", default: "6h", help: "no signed webhook for this long while Meta's Conversations API shows messages dmdesk lacks: /health says webhooks may be failing", validate: ConfigChecks.period),
        ConfigKey("DMDESK_SYNC_EVERY", default: "off", help: "off, or run `dmdesk sync` in the daemon this often (at start-up too; each covers twice the period back, at least 1h)", validate: ConfigChecks.periodOrOff),
        ConfigKey("DMDESK_METRICS_ADDR", default: "off", help: "off, or HOST:PORT where Prometheus metrics are served at /metrics (its own listener, never the webhook port), e.g. 127.0.0.1:9464", validate: ConfigChecks.metricsAddress),
        ConfigKey("INTERNAL_SERVICE_TOKEN", secret: true, help: "x-service-token for /api/internal/*; unset disables them"),
        ConfigKey("DMDESK_DATA_DIR", help: "where the SQLite database lives (default $XDG_STATE_HOME/dmdesk or ~/.local/state/dmdesk)"),
        ConfigKey("DMDESK_SOCKET", help: "control socket path (default $XDG_RUNTIME_DIR/dmdesk/dmdesk.sock, else <data dir>/dmdesk.sock)"),
        ConfigKey("DMDESK_LOG_LEVEL", default: "info", help: "trace, debug, info, notice, warning, error", validate: ConfigChecks.logLevel),
        ConfigKey("DMDESK_LOG_FORMAT", default: "text", help: "text (one readable line an event), or json (one JSON object a line: level, time, label, message, metadata)", validate: ConfigChecks.oneOf(LogFormat.allCases.map(\.rawValue))),
        ConfigKey("DMDESK_REPLY_DELAY_MS", default: "5000-15000", help: "debounce window before the bot answers a burst", validate: ConfigChecks.millisRange),
        ConfigKey("DMDESK_FALLBACK_REPLY", default: "Thanks for your message! We'll get back to you soon.", help: "reply when no rule matches"),
        ConfigKey("DMDESK_FALLBACK_COOLDOWN", default: "24h", help: "the fallback reply goes to a thread at most once in this long (off: every unmatched message); matched rules answer every time", validate: ConfigChecks.periodOrOff),
        ConfigKey("DMDESK_BUSINESS_HOURS", help: "when the shop answers, e.g. 'Mon-Fri 09:00-18:00; Sat 10:00-14:00'; outside them the away text replaces the fallback (unset: always open)", validate: ConfigChecks.businessHours),
        ConfigKey("DMDESK_TIMEZONE", help: "IANA time zone of the business hours, e.g. Europe/Lisbon (default: the machine's, or UTC)", validate: ConfigChecks.timeZone),
        ConfigKey("DMDESK_AWAY_TEXT", default: "Thanks for your message! We're closed right now and will answer as soon as we're back.", help: "sent once per thread in each closed period instead of the fallback"),
        ConfigKey("DMDESK_HANDOVER_TEXT", default: "Thanks — a person will reply shortly.", help: "sent when a thread is handed to a person"),
        ConfigKey("DMDESK_ONBOARDING", default: "off", help: "off or verify-link (account-linking flow)", validate: ConfigChecks.oneOf(["off", "verify-link"])),
        ConfigKey("DMDESK_VERIFY_URL", default: "http://127.0.0.1:8080/verify?token={token}&ig_id={ig_id}", help: "verification link; {token} and {ig_id} are filled in"),
        ConfigKey("DMDESK_ACK_TEXT", default: "Thanks! We got your message.", help: "acknowledgement sent to a connected profile"),
        ConfigKey("DMDESK_ECHO_TAKEOVER", default: "true", help: "an answer from the Instagram app switches the thread to human mode", validate: ConfigChecks.bool),
        ConfigKey(
            "DMDESK_SEND_RECONCILE_SECONDS", default: "60",
            help: "after a crash, how long a reply that was in flight waits for proof it was sent (its echo) before it is sent again",
            validate: { v in (Int(v) ?? -1) >= 0 ? nil : "must be a whole number of seconds (0 or more), got '\(v)'" }),
        ConfigKey("DMDESK_HUMAN_AGENT_TAG", default: "false", help: "allow manual sends up to 7 days with the HUMAN_AGENT tag", validate: ConfigChecks.bool),
        ConfigKey("DMDESK_TYPING", default: "true", help: "show the customer typing_on once per batch the bot or the agent answers", validate: ConfigChecks.bool),
        ConfigKey("DMDESK_MARK_SEEN", default: "false", help: "send mark_seen when an operator opens a thread", validate: ConfigChecks.bool),
        ConfigKey("DMDESK_TOKEN_REFRESH", default: "off", help: "off, or auto: refresh an Instagram-login long-lived token ten days before it expires and keep the new one in the data directory (access-token.json, mode 0600)", validate: ConfigChecks.oneOf(TokenRefreshMode.allCases.map(\.rawValue))),
        ConfigKey("WHATSAPP_API_BASE_URL", default: "https://graph.facebook.com/v24.0", help: "WhatsApp Cloud API base URL", validate: ConfigChecks.url),
        ConfigKey("WHATSAPP_PHONE_NUMBER_ID", help: "WhatsApp sender phone number id"),
        ConfigKey("WHATSAPP_ACCESS_TOKEN", secret: true, help: "WhatsApp Cloud API token (default: the Instagram token)"),
        ConfigKey("MANAGER_WHATSAPP_NUMBER", help: "manager's WhatsApp number for notifications"),
        ConfigKey("DMDESK_WHATSAPP_TEMPLATE", help: "template used when the manager's 24-hour window is closed"),
        ConfigKey("DMDESK_THEME", default: "default", help: "console theme name or path"),
        ConfigKey("DMDESK_BELL", default: "true", help: "ring the terminal bell for new messages in human-mode threads", validate: ConfigChecks.bool),
        ConfigKey("DMDESK_RESPONDER", default: "rules", help: "rules or agent", validate: ConfigChecks.oneOf(["rules", "agent"])),
        ConfigKey("DMDESK_LLM_BASE_URL", help: "OpenAI-compatible endpoint for the agent responder, e.g. http://127.0.0.1:11434/v1", validate: ConfigChecks.url),
        ConfigKey("DMDESK_LLM_MODEL", help: "model name for the agent responder"),
        ConfigKey("DMDESK_LLM_API_KEY", secret: true, help: "API key for the agent endpoint (optional)"),
        ConfigKey("DMDESK_LLM_PROMPT_FILE", help: "system prompt file for the agent"),
        ConfigKey("DMDESK_LLM_TIMEOUT_MS", default: "30000", help: "agent request timeout", validate: ConfigChecks.positiveInt),
        ConfigKey("DMDESK_LLM_MAX_TOOL_CALLS", default: "5", help: "tool calls per batch", validate: ConfigChecks.positiveInt),
        ConfigKey("DMDESK_LLM_CONCURRENCY", default: "16", help: "threads the agent answers at once", validate: ConfigChecks.positiveInt),
    ]

    public static func key(named name: String) -> ConfigKey? { all.first { $0.name == name } }
}

public struct ResolvedValue: Sendable, Equatable {
    public var value: String
    public var source: ConfigSource
    /// The variable or file key it was read from (an alias, say).
    public var origin: String
}

/// The effective configuration: every key's value and where it came from.
public struct ResolvedConfig: Sendable {
    public private(set) var values: [String: ResolvedValue]
    public var configFile: String?

    public init(values: [String: ResolvedValue] = [:], configFile: String? = nil) {
        self.values = values
        self.configFile = configFile
    }

    public subscript(name: String) -> String? { values[name]?.value }

    public mutating func set(_ name: String, _ value: String, source: ConfigSource, origin: String) {
        if let existing = values[name], existing.source > source { return }
        values[name] = ResolvedValue(value: value, source: source, origin: origin)
    }

    /// Flags override everything else.
    public mutating func override(_ name: String, with value: String?, flag: String) {
        guard let value else { return }
        values[name] = ResolvedValue(value: value, source: .flag, origin: flag)
    }

    /// Loads defaults, then `dmdesk.toml`, then `.env` (never overriding real variables), then the environment.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        configFile: String? = nil,
        dotenvPath: String? = FileManager.default.currentDirectoryPath + "/.env"
    ) throws(ConfigError) -> ResolvedConfig {
        var resolved = ResolvedConfig(configFile: nil)
        for key in ConfigKeys.all {
            if let d = key.defaultValue { resolved.set(key.name, d, source: .defaultValue, origin: "default") }
        }
        let fileToRead = configFile ?? environment["DMDESK_CONFIG"]
        if let fileToRead {
            guard FileManager.default.fileExists(atPath: fileToRead) else {
                throw ConfigError("config file \(fileToRead) does not exist")
            }
            resolved.configFile = fileToRead
            for (name, value, origin) in try readTOML(path: fileToRead) {
                resolved.set(name, value, source: .file, origin: origin)
            }
        }
        var dotenv: [String: String] = [:]
        if let dotenvPath, let text = try? String(contentsOfFile: dotenvPath, encoding: .utf8) {
            dotenv = parseDotenv(text)
        }
        for key in ConfigKeys.all {
            // Canonical name wins over aliases; real environment over .env.
            for (vars, source) in [(environment, ConfigSource.environment), (dotenv, ConfigSource.dotenv)] {
                if let hit = ([key.name] + key.aliases).first(where: { vars[$0] != nil && !(vars[$0]!.isEmpty) }) {
                    resolved.set(key.name, vars[hit]!, source: source, origin: hit)
                    break
                }
            }
        }
        return resolved
    }

    /// Checks every value; the first problem is one line naming the variable.
    public func validate() throws(ConfigError) {
        for key in ConfigKeys.all {
            guard let v = values[key.name] else { continue }
            if var problem = key.validate(v.value) {
                let via = v.origin == key.name ? "" : " (set as \(v.origin))"
                // Whatever a check echoes, a secret or a URL's password is shown as in the listing.
                let shown = Self.shown(v.value, for: key)
                if shown != v.value && !v.value.isEmpty { problem = problem.replacingOccurrences(of: v.value, with: shown) }
                throw ConfigError("invalid \(key.name)\(via): \(problem)")
            }
        }
    }

    /// The `dmdesk config` listing: name, value (secrets masked), source.
    public func describe() -> String {
        var lines: [String] = []
        if let configFile { lines.append("# config file: \(configFile)") }
        let width = ConfigKeys.all.map(\.name.count).max() ?? 20
        for key in ConfigKeys.all {
            let name = key.name.padding(toLength: width, withPad: " ", startingAt: 0)
            guard let v = values[key.name] else {
                lines.append("\(name)  (unset)")
                continue
            }
            let shown = Self.shown(v.value, for: key)
            var from = v.source.rawValue
            if v.origin != key.name && v.source != .defaultValue { from += " \(v.origin)" }
            lines.append("\(name)  \(shown)  [\(from)]")
        }
        return lines.joined(separator: "\n")
    }

    /// A value as `dmdesk config` and error messages show it: secrets masked whole, passwords in URLs masked.
    static func shown(_ value: String, for key: ConfigKey) -> String {
        if key.secret { return mask(value) }
        return key.name.hasSuffix("_URL") ? URLSecrets.masking(url: value) : URLSecrets.maskingPasswords(in: value)
    }

    /// Shows that a secret is set without revealing it.
    public static func mask(_ secret: String) -> String {
        secret.isEmpty ? "(empty)" : "******** (\(secret.utf8.count) chars)"
    }

    static func readTOML(path: String) throws(ConfigError) -> [(String, String, String)] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError("cannot read config file \(path): \(error.localizedDescription)")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch {
            throw ConfigError("config file \(path) is not valid TOML: \(error)")
        }
        var out: [(String, String, String)] = []
        for (rawKey, value) in table {
            let upper = rawKey.uppercased()
            guard let key = ConfigKeys.all.first(where: { $0.name == upper || $0.aliases.contains(upper) }) else {
                throw ConfigError("config file \(path): unknown key '\(rawKey)'")
            }
            let text: String
            if let s = value.string {
                text = s
            } else if let i = value.int {
                text = String(i)
            } else if let b = value.bool {
                text = String(b)
            } else {
                throw ConfigError("config file \(path): \(rawKey) must be a string, number or boolean")
            }
            out.append((key.name, text, "\(path):\(rawKey)"))
        }
        return out
    }

    public static func parseDotenv(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line.removeFirst(7) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let name = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f {
                value = String(value.dropFirst().dropLast())
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            out[name] = value
        }
        return out
    }
}

/// Where Redis lives, parsed from `redis://[:password@]host[:port][/db]`.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var password: String?
    public var username: String?
    public var db: Int

    public init(host: String, port: Int, password: String? = nil, username: String? = nil, db: Int = 0) {
        self.host = host
        self.port = port
        self.password = password
        self.username = username
        self.db = db
    }

    public init(url: String) throws(ConfigError) {
        guard let u = URLComponents(string: url), u.scheme == "redis", let host = u.host, !host.isEmpty else {
            throw ConfigError("not a redis:// URL")
        }
        let port = u.port ?? 6379
        guard (1...65535).contains(port) else { throw ConfigError("bad port") }
        var db = 0
        let path = u.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let n = Int(path), n >= 0 else { throw ConfigError("db must be a number") }
            db = n
        }
        let user = u.user.flatMap { $0.isEmpty ? nil : $0 }
        self.init(host: host, port: port, password: u.password, username: user, db: db)
    }

    /// `redis://user:****@host:port/db`: for `/health` and logs, so the password never appears.
    public var description: String {
        var userinfo = username ?? ""
        if password != nil { userinfo += ":" + URLSecrets.mask }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "redis://\(userinfo.isEmpty ? "" : userinfo + "@")\(shownHost):\(port)/\(db)"
    }
}

/// The typed configuration the daemon runs with.
public struct DMDeskConfig: Sendable {
    public var verifyToken: String?
    public var appSecret: String?
    public var accessToken: String?
    public var accountId: String?
    public var apiBaseURL: String
    public var redis: RedisEndpoint
    public var host: String
    public var port: Int
    public var maxConnections: Int
    public var idleTimeoutMs: Int
    public var requestTimeoutMs: Int
    public var minFreeDiskMB: Int
    public var quickCheckIntervalMs: Int
    /// `DMDESK_JOURNAL_RETENTION`.
    public var journalRetention: RetentionPeriod
    /// `DMDESK_MESSAGE_RETENTION`; nil: off.
    public var messageRetention: RetentionPeriod?
    /// `DMDESK_PRUNE_INTERVAL`.
    public var pruneInterval: RetentionPeriod
    /// `DMDESK_METRICS_ADDR`; nil: off.
    public var metricsAddress: HostPort?
    /// `DMDESK_WEBHOOK_SILENCE`.
    public var webhookSilence: RetentionPeriod
    /// `DMDESK_SYNC_EVERY`; nil: off.
    public var syncEvery: RetentionPeriod?
    public var internalServiceToken: String?
    public var dataDir: String
    public var socketPath: String
    public var logLevel: String
    /// `DMDESK_LOG_FORMAT`.
    public var logFormat: LogFormat
    public var replyDelay: MillisRange
    public var fallbackReply: String
    /// `DMDESK_FALLBACK_COOLDOWN`; nil: off (the fallback answers every unmatched message).
    public var fallbackCooldown: RetentionPeriod?
    /// `DMDESK_BUSINESS_HOURS` in `DMDESK_TIMEZONE`; nil: always open.
    public var businessHours: BusinessHours?
    public var awayText: String
    public var handoverText: String
    public var onboardingVerifyLink: Bool
    public var verifyURL: String
    public var ackText: String
    public var echoTakeover: Bool
    /// `DMDESK_SEND_RECONCILE_SECONDS`.
    public var sendReconcileSeconds: Int
    public var humanAgentTag: Bool
    /// `DMDESK_TYPING`: a typing indicator for each batch the bot or the agent answers.
    public var typingIndicator: Bool
    /// `DMDESK_MARK_SEEN`: opening a thread in a console tells the customer it was seen.
    public var markSeen: Bool
    /// `DMDESK_TOKEN_REFRESH`: whether the daemon refreshes the Instagram token before it expires.
    public var tokenRefresh: TokenRefreshMode
    public var whatsappBaseURL: String
    public var whatsappPhoneNumberId: String?
    public var whatsappToken: String?
    public var managerWhatsAppNumber: String?
    public var whatsappTemplate: String?
    public var theme: String
    public var bell: Bool
    public var responder: String
    public var llmBaseURL: String?
    public var llmModel: String?
    public var llmAPIKey: String?
    public var llmPromptFile: String?
    public var llmTimeoutMs: Int
    public var llmMaxToolCalls: Int
    public var llmConcurrency: Int

    public init(_ r: ResolvedConfig, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) {
        try r.validate()
        func opt(_ k: String) -> String? { r[k].flatMap { $0.isEmpty ? nil : $0 } }
        func req(_ k: String) -> String { r[k] ?? ConfigKeys.key(named: k)?.defaultValue ?? "" }
        verifyToken = opt("INSTAGRAM_VERIFY_TOKEN")
        appSecret = opt("INSTAGRAM_APP_SECRET")
        accessToken = opt("INSTAGRAM_ACCESS_TOKEN")
        accountId = opt("INSTAGRAM_ACCOUNT_ID")
        apiBaseURL = req("INSTAGRAM_API_BASE_URL").trimmingSuffix("/")
        redis = try RedisEndpoint(url: req("REDIS_URL"))
        host = req("HOST")
        port = Int(req("PORT")) ?? 8080
        maxConnections = Int(req("DMDESK_MAX_CONNECTIONS")) ?? 512
        idleTimeoutMs = Int(req("DMDESK_IDLE_TIMEOUT_MS")) ?? 30000
        requestTimeoutMs = Int(req("DMDESK_REQUEST_TIMEOUT_MS")) ?? 30000
        minFreeDiskMB = Int(req("DMDESK_MIN_FREE_DISK_MB")) ?? 256
        quickCheckIntervalMs = Int(req("DMDESK_QUICK_CHECK_INTERVAL_MS")) ?? 300000
        journalRetention = (try? RetentionPeriod.parse(req("DMDESK_JOURNAL_RETENTION")).get()) ?? RetentionPeriod(seconds: 30 * 86400)
        func periodOrOff(_ k: String) -> RetentionPeriod? {
            let text = req(k)
            return text.lowercased() == "off" ? nil : try? RetentionPeriod.parse(text).get()
        }
        messageRetention = periodOrOff("DMDESK_MESSAGE_RETENTION")
        pruneInterval = (try? RetentionPeriod.parse(req("DMDESK_PRUNE_INTERVAL")).get()) ?? RetentionPeriod(seconds: 600)
        metricsAddress = HostPort.parse(req("DMDESK_METRICS_ADDR"))
        webhookSilence = (try? RetentionPeriod.parse(req("DMDESK_WEBHOOK_SILENCE")).get()) ?? RetentionPeriod(seconds: 6 * 3600)
        syncEvery = periodOrOff("DMDESK_SYNC_EVERY")
        internalServiceToken = opt("INTERNAL_SERVICE_TOKEN")
        dataDir = opt("DMDESK_DATA_DIR") ?? Self.defaultDataDir(environment: environment)
        socketPath = opt("DMDESK_SOCKET") ?? Self.defaultSocketPath(dataDir: dataDir, environment: environment)
        logLevel = req("DMDESK_LOG_LEVEL").lowercased()
        logFormat = LogFormat(rawValue: req("DMDESK_LOG_FORMAT").lowercased()) ?? .text
        replyDelay = MillisRange(req("DMDESK_REPLY_DELAY_MS")) ?? MillisRange(min: 5000, max: 15000)
        fallbackReply = req("DMDESK_FALLBACK_REPLY")
        fallbackCooldown = periodOrOff("DMDESK_FALLBACK_COOLDOWN")
        let zone = opt("DMDESK_TIMEZONE").flatMap(TimeZone.init(identifier:)) ?? TimeZone.current
        businessHours = opt("DMDESK_BUSINESS_HOURS").flatMap { try? BusinessHours.parse($0, timeZone: zone).get() }
        awayText = req("DMDESK_AWAY_TEXT")
        handoverText = req("DMDESK_HANDOVER_TEXT")
        onboardingVerifyLink = req("DMDESK_ONBOARDING").lowercased() == "verify-link"
        verifyURL = req("DMDESK_VERIFY_URL")
        ackText = req("DMDESK_ACK_TEXT")
        echoTakeover = parseBool(req("DMDESK_ECHO_TAKEOVER")) ?? true
        sendReconcileSeconds = Int(req("DMDESK_SEND_RECONCILE_SECONDS")) ?? 60
        humanAgentTag = parseBool(req("DMDESK_HUMAN_AGENT_TAG")) ?? false
        typingIndicator = parseBool(req("DMDESK_TYPING")) ?? true
        markSeen = parseBool(req("DMDESK_MARK_SEEN")) ?? false
        tokenRefresh = TokenRefreshMode(rawValue: req("DMDESK_TOKEN_REFRESH").lowercased()) ?? .off
        whatsappBaseURL = req("WHATSAPP_API_BASE_URL").trimmingSuffix("/")
        whatsappPhoneNumberId = opt("WHATSAPP_PHONE_NUMBER_ID")
        whatsappToken = opt("WHATSAPP_ACCESS_TOKEN")
        managerWhatsAppNumber = opt("MANAGER_WHATSAPP_NUMBER")
        whatsappTemplate = opt("DMDESK_WHATSAPP_TEMPLATE")
        theme = req("DMDESK_THEME")
        bell = parseBool(req("DMDESK_BELL")) ?? true
        responder = req("DMDESK_RESPONDER").lowercased()
        llmBaseURL = opt("DMDESK_LLM_BASE_URL")
        llmModel = opt("DMDESK_LLM_MODEL")
        llmAPIKey = opt("DMDESK_LLM_API_KEY")
        llmPromptFile = opt("DMDESK_LLM_PROMPT_FILE")
        llmTimeoutMs = Int(req("DMDESK_LLM_TIMEOUT_MS")) ?? 30000
        llmMaxToolCalls = Int(req("DMDESK_LLM_MAX_TOOL_CALLS")) ?? 5
        llmConcurrency = Int(req("DMDESK_LLM_CONCURRENCY")) ?? 16
        if responder == "agent" {
            let missing = [("DMDESK_LLM_BASE_URL", llmBaseURL), ("DMDESK_LLM_MODEL", llmModel)].filter { $0.1 == nil }.map(\.0)
            if !missing.isEmpty {
                throw ConfigError("DMDESK_RESPONDER=agent needs \(missing.joined(separator: " and ")) (an OpenAI-compatible endpoint and model)")
            }
        }
    }

    public static func defaultDataDir(environment: [String: String]) -> String {
        if let state = environment["XDG_STATE_HOME"], !state.isEmpty { return state + "/dmdesk" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/dmdesk"
    }

    /// The longest path a Unix socket address holds (`sun_path` less its terminating NUL).
    public static let maxSocketPathBytes = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// The one place the default control socket path is decided, for the daemon and every client alike:
    /// `$XDG_RUNTIME_DIR/dmdesk/dmdesk.sock` when that is an absolute path and the result fits in a socket
    /// address, else `<dataDir>/dmdesk.sock`.
    public static func defaultSocketPath(
        dataDir: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") {
            let candidate = trimmingTrailingSlashes(runtime) + "/dmdesk/dmdesk.sock"
            if candidate.utf8.count <= maxSocketPathBytes { return candidate }
        }
        let base = trimmingTrailingSlashes(dataDir)
        return (base.isEmpty ? "." : base) + "/dmdesk.sock"
    }

    private static func trimmingTrailingSlashes(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }
}

extension String {
    public func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}

/// `HOST:PORT` (`[::1]:9464` for IPv6); the port 0-65535 (0 picks a free one).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public static func parse(_ text: String) -> HostPort? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(" "), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        return HostPort(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Printing a configuration — a log line, a ServiceLifecycle description of a service that holds one — must never
/// print a secret, so it names where things are and leaves the tokens out.
extension DMDeskConfig: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "DMDeskConfig(dataDir: \(dataDir), socket: \(socketPath), listener: \(host):\(port), account: \(accountId ?? "-"), "
            + "api: \(URLSecrets.masking(url: apiBaseURL)), redis: \(redis), responder: \(responder), secrets not shown)"
    }

    public var debugDescription: String { description }
}
