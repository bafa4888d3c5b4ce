import ArgumentParser
import AsyncHTTPClient
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation
import Logging
import NIOCore

/// `dmdesk doctor`: checks the set-up a daemon needs, one line each, with what to do about every failure.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the set-up: configuration, data directory, socket, disk, Redis, Meta, the listener, the clock.",
        discussion: """
            Each check prints one line (ok, FAIL or skip, its name, what it found) and, when it fails, a line \
            saying what to do. Checks: the configuration (as the daemon and `dmdesk config` read it); the data \
            directory (exists, yours, writable, not readable by others); the control socket and its directory; \
            free disk in the data directory (DMDESK_MIN_FREE_DISK_MB); Redis (PING at REDIS_URL); the app secret \
            is set; the access token is accepted by Meta (GET /me at INSTAGRAM_API_BASE_URL); the running daemon's \
            listener answers its own verify handshake; this machine's clock agrees with the Date of Meta's answer. \
            Run it as the daemon's user, with the daemon's configuration. Secrets are never printed. Exits 0 only \
            when every check passes, 1 otherwise.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Fail the clock check when it is off by more than this.", valueName: "seconds"))
    var maxClockSkew: Int = 60

    @Option(name: .long, help: ArgumentHelp("How long to wait for Meta, Redis and the listener.", valueName: "seconds"))
    var timeout: Int = 10

    func validate() throws {
        if maxClockSkew < 1 { throw ValidationError("--max-clock-skew must be at least 1") }
        if timeout < 1 { throw ValidationError("--timeout must be at least 1") }
    }

    func run() async throws {
        var report = DoctorReport(json: json)
        let config: DMDeskConfig
        var secrets: [String] = []
        do {
            let resolved = try global.resolve()
            secrets = ConfigKeys.all.filter(\.secret).compactMap { resolved[$0.name] }
            config = try DMDeskConfig(resolved)
            if let password = config.redis.password { secrets.append(password) }
            report.secrets = secrets
            let from = resolved.configFile.map { " (config file \($0))" } ?? ""
            report.add(.ok("config", "valid\(from)"))
        } catch {
            report.secrets = secrets
            report.add(
                .fail(
                    "config", "\(error)",
                    fix: "correct that setting (`dmdesk config` lists every value and where it came from), then run `dmdesk doctor` again"))
            for name in ["data-dir", "socket", "disk", "redis", "app-secret", "token", "listener", "clock"] {
                report.add(.skip(name, "configuration invalid"))
            }
            report.finish()
        }

        let files = try await onOwnThread { [config] in
            // stat, statvfs and a connect on the control socket block; they run here, off the cooperative pool.
            (DoctorFiles.dataDirectory(config), DoctorFiles.socket(config), DoctorFiles.disk(config),
             DoctorFiles.helloListener(config))
        }
        report.add(files.0)
        report.add(files.1)
        report.add(files.2)
        report.add(await DoctorNetwork.redis(config, timeout: timeout))
        report.add(DoctorNetwork.appSecret(config))
        let (token, clock) = await DoctorNetwork.tokenAndClock(config, timeout: timeout, maxSkew: maxClockSkew)
        report.add(token)
        report.add(await DoctorNetwork.listener(config, hello: files.3, timeout: timeout))
        report.add(clock)
        report.finish()
    }
}

/// One check's outcome.
struct DoctorCheck: Sendable {
    enum Status: String, Sendable { case ok, fail, skip }
    var name: String
    var status: Status
    var found: String
    var fix: String?

    static func ok(_ name: String, _ found: String) -> DoctorCheck { .init(name: name, status: .ok, found: found) }
    static func skip(_ name: String, _ found: String) -> DoctorCheck { .init(name: name, status: .skip, found: found) }
    static func fail(_ name: String, _ found: String, fix: String) -> DoctorCheck {
        .init(name: name, status: .fail, found: found, fix: fix)
    }
}

/// Prints checks as they finish (text) or all at once (JSON), with every configured secret blanked out.
struct DoctorReport {
    var json: Bool
    var secrets: [String] = []
    var checks: [DoctorCheck] = []

    mutating func add(_ check: DoctorCheck) {
        var check = check
        check.found = redacted(check.found)
        check.fix = check.fix.map(redacted)
        checks.append(check)
        guard !json else { return }
        let label = check.status == .fail ? "FAIL" : check.status.rawValue
        print("\(label.padding(toLength: 5, withPad: " ", startingAt: 0)) \(check.name.padding(toLength: 11, withPad: " ", startingAt: 0)) \(check.found)")
        if let fix = check.fix { print("      fix: \(fix)") }
        fflush(nil)
    }

    /// Belt and braces: no check should ever name a secret, but none is printed even if one did.
    func redacted(_ text: String) -> String {
        var text = text
        for secret in secrets where secret.count >= 4 { text = text.replacingOccurrences(of: secret, with: "[redacted]") }
        return text
    }

    func finish() -> Never {
        let failed = checks.filter { $0.status == .fail }.count
        if json {
            let list: [JSONValue] = checks.map { check in
                .object([
                    "name": .string(check.name), "status": .string(check.status.rawValue), "found": .string(check.found),
                    "fix": check.fix.map { .string($0) } ?? .null,
                ])
            }
            print(JSONValue.object(["ok": .bool(failed == 0), "checks": .array(list)]).encodedString())
        } else {
            let passed = checks.filter { $0.status == .ok }.count
            let skipped = checks.count - passed - failed
            print(failed == 0 ? "all \(passed) checks passed" : "\(failed) of \(checks.count) checks failed (\(passed) ok, \(skipped) skipped)")
        }
        fflush(nil)
        exit(failed == 0 ? 0 : 1)
    }
}

/// Runs blocking work on a thread of its own, so the cooperative pool never waits on a syscall.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// The checks on files: the data directory, the control socket, free disk.
enum DoctorFiles {
    static func mode(_ m: mode_t) -> String { String(format: "%04o", Int(m & 0o7777)) }

    static func owner(_ uid: uid_t) -> String {
        if let pw = getpwuid(uid), let name = pw.pointee.pw_name { return "uid \(uid) (\(String(cString: name)))" }
        return "uid \(uid)"
    }

    /// The nearest directory at or above `path` that exists.
    static func existingAncestor(_ path: String) -> String {
        var current = path
        var info = stat()
        while stat(current, &info) != 0 {
            let parent = (current as NSString).deletingLastPathComponent
            if parent.isEmpty || parent == current { return "/" }
            current = parent
        }
        return current
    }

    static func dataDirectory(_ config: DMDeskConfig) -> DoctorCheck {
        let dir = config.dataDir
        var info = stat()
        guard stat(dir, &info) == 0 else {
            let ancestor = existingAncestor(dir)
            if access(ancestor, W_OK) == 0 {
                return .ok("data-dir", "\(dir) does not exist yet; the daemon creates it (mode 0700) at its first start")
            }
            return .fail(
                "data-dir", "\(dir) does not exist and \(ancestor) is not writable by \(owner(geteuid()))",
                fix: "create it for the daemon's user: install -d -m 700 -o $(id -un) \(dir)")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            return .fail("data-dir", "\(dir) is not a directory", fix: "set DMDESK_DATA_DIR to a directory (or remove that file)")
        }
        if info.st_uid != geteuid() {
            return .fail(
                "data-dir", "\(dir) is owned by \(owner(info.st_uid)), but this is \(owner(geteuid()))",
                fix: "chown $(id -un) \(dir), or run doctor as the daemon's user (sudo -u <user> dmdesk doctor)")
        }
        if access(dir, W_OK) != 0 {
            return .fail("data-dir", "\(dir) is not writable (mode \(mode(info.st_mode)))", fix: "chmod 700 \(dir)")
        }
        if info.st_mode & 0o007 != 0 {
            return .fail(
                "data-dir", "\(dir) is open to other users (mode \(mode(info.st_mode))): they could read every conversation",
                fix: "chmod 700 \(dir)")
        }
        return .ok("data-dir", "\(dir): yours, writable, mode \(mode(info.st_mode))")
    }

    static func socket(_ config: DMDeskConfig) -> DoctorCheck {
        let path = config.socketPath
        let bytes = path.utf8.count
        if bytes > DMDeskConfig.maxSocketPathBytes {
            return .fail(
                "socket", "\(path) is \(bytes) bytes, longer than a socket address holds (\(DMDeskConfig.maxSocketPathBytes))",
                fix: "set DMDESK_SOCKET to a shorter path")
        }
        let parent = (path as NSString).deletingLastPathComponent
        let dir = parent.isEmpty ? "." : parent
        var info = stat()
        guard stat(dir, &info) == 0 else {
            return .ok("socket", "\(dir) does not exist yet; the daemon creates it (mode 0700)")
        }
        let shared = info.st_mode & S_ISVTX != 0 && info.st_uid != geteuid()
        if info.st_mode & 0o077 != 0 && !shared {
            return .fail(
                "socket", "socket directory \(dir) is mode \(mode(info.st_mode)), not private to its owner",
                fix: "chmod 700 \(dir)")
        }
        var sock = stat()
        guard lstat(path, &sock) == 0 else { return .ok("socket", "\(path): no socket yet (no daemon running); directory private") }
        guard sock.st_mode & S_IFMT == S_IFSOCK else {
            return .fail("socket", "\(path) exists and is not a socket", fix: "remove it, or set DMDESK_SOCKET to another path")
        }
        if sock.st_uid != geteuid() {
            return .fail(
                "socket", "\(path) is owned by \(owner(sock.st_uid)), but this is \(owner(geteuid()))",
                fix: "run doctor as the daemon's user (sudo -u <user> dmdesk doctor)")
        }
        if sock.st_mode & 0o077 != 0 {
            return .fail("socket", "\(path) is mode \(mode(sock.st_mode)): other users could connect", fix: "chmod 600 \(path)")
        }
        return .ok("socket", "\(path): mode \(mode(sock.st_mode)), directory mode \(mode(info.st_mode))")
    }

    static func disk(_ config: DMDeskConfig) -> DoctorCheck {
        let dir = existingAncestor(config.dataDir)
        var info = statvfs()
        guard statvfs(dir, &info) == 0 else {
            return .fail("disk", "cannot ask how much space \(dir) has: \(String(cString: strerror(errno)))", fix: "check that \(dir) is readable")
        }
        let unit = UInt64(info.f_frsize)
        let freeMiB = UInt64(info.f_bavail) * unit / 1_048_576
        let totalMiB = UInt64(info.f_blocks) * unit / 1_048_576
        let minimum = UInt64(config.minFreeDiskMB)
        if freeMiB < minimum {
            return .fail(
                "disk", "\(freeMiB) MiB free of \(totalMiB) MiB at \(dir), under the \(minimum) MiB minimum (DMDESK_MIN_FREE_DISK_MB)",
                fix: "free space on that filesystem, or move DMDESK_DATA_DIR to a bigger one")
        }
        return .ok("disk", "\(freeMiB) MiB free of \(totalMiB) MiB at \(dir) (minimum \(minimum) MiB)")
    }

    /// The running daemon's listener address from its control socket's hello, or nil when no daemon answers.
    static func helloListener(_ config: DMDeskConfig) -> String? {
        guard let client = try? ControlClient.connect(path: config.socketPath, timeout: 3) else { return nil }
        defer { client.close() }
        return client.hello.listener ?? ""
    }
}

/// The checks that talk to something: Redis, Meta, the listener.
enum DoctorNetwork {
    static let quiet = Logger(label: "dmdesk.doctor", factory: { _ in SwiftLogNoOpLogHandler() })

    static func redis(_ config: DMDeskConfig, timeout: Int) async -> DoctorCheck {
        let store = RedisContextStore(endpoint: config.redis, logger: quiet, timeoutMs: min(timeout, 5) * 1000)
        let up = await store.connectAsync()
        let why = store.state.lastError
        await store.closeAsync()
        if up { return .ok("redis", "PONG from \(config.redis)") }
        return .fail(
            "redis", "no PONG from \(config.redis): \(why ?? "unavailable")",
            fix: "start redis-server there (e.g. systemctl start redis-server), or set REDIS_URL to where it runs")
    }

    static func appSecret(_ config: DMDeskConfig) -> DoctorCheck {
        guard config.appSecret != nil else {
            return .fail(
                "app-secret", "INSTAGRAM_APP_SECRET is not set: webhook signatures cannot be checked, so the daemon will not start (except with --allow-unsigned, for local testing)",
                fix: "set INSTAGRAM_APP_SECRET to the app secret in Meta's App Dashboard (App settings > Basic)")
        }
        return .ok("app-secret", "INSTAGRAM_APP_SECRET is set (not shown)")
    }

    static func tokenAndClock(_ config: DMDeskConfig, timeout: Int, maxSkew: Int) async -> (DoctorCheck, DoctorCheck) {
        let client = GraphClient(
            settings: GraphSettings(
                instagramBaseURL: config.apiBaseURL, accessToken: config.currentAccessToken(), requestTimeout: .seconds(timeout)),
            logger: quiet)
        let base = URLSecrets.masking(url: config.apiBaseURL)
        let sent = Date()
        let answer: GraphMeAnswer
        do {
            answer = try await client.meAnswer()
        } catch {
            let noAnswer = DoctorCheck.skip("clock", "no answer from Meta to compare with")
            if case .notConfigured = error.kind {
                return (
                    .fail(
                        "token", "INSTAGRAM_ACCESS_TOKEN is not set: replies cannot be sent",
                        fix: "set INSTAGRAM_ACCESS_TOKEN to a long-lived Instagram access token (App Dashboard > Instagram > API setup > Generate token)"),
                    noAnswer)
            }
            return (
                .fail(
                    "token", "no answer from \(base)/me: \(error)",
                    fix: "check this machine's network and proxy, and INSTAGRAM_API_BASE_URL"),
                noAnswer)
        }
        let received = Date()
        let token: DoctorCheck
        switch answer.account {
        case .success(let account):
            let who = account.username.map { "@\($0)" } ?? account.name ?? "account"
            token = .ok("token", "accepted by \(base)/me: \(who) (id \(account.userId ?? account.id))")
        case .failure(let error) where error.isTokenInvalid:
            token = .fail(
                "token", "Meta refused the access token: \(error)",
                fix: "generate a new long-lived token (App Dashboard > Instagram > API setup > Generate token), set INSTAGRAM_ACCESS_TOKEN and restart the daemon")
        case .failure(let error):
            token = .fail(
                "token", "GET \(base)/me failed: \(error)",
                fix: "check INSTAGRAM_API_BASE_URL (like https://graph.instagram.com/v24.0) and the token's permissions")
        }
        guard let server = answer.serverDate else {
            return (token, .skip("clock", "Meta's answer had no Date header"))
        }
        // Meta stamped its answer somewhere between sending and receiving: compare with the middle.
        let local = sent.addingTimeInterval(received.timeIntervalSince(sent) / 2)
        let skew = Int(server.timeIntervalSince(local).rounded())
        let clock: DoctorCheck
        if abs(skew) > maxSkew {
            clock = .fail(
                "clock", "this machine's clock is \(abs(skew)) s \(skew > 0 ? "behind" : "ahead of") Meta's (more than \(maxSkew) s)",
                fix: "turn on time synchronisation (timedatectl set-ntp true, or chrony): webhook times and the 24-hour window depend on it")
        } else {
            clock = .ok("clock", "within \(abs(skew)) s of Meta's Date header")
        }
        return (token, clock)
    }

    static func listener(_ config: DMDeskConfig, hello: String?, timeout: Int) async -> DoctorCheck {
        guard let hello else {
            return .fail(
                "listener", "not running: no daemon answers on \(config.socketPath)",
                fix: "start the daemon (dmdesk --daemon, or systemctl start dmdesk), then run doctor again")
        }
        guard let verifyToken = config.verifyToken else {
            return .fail(
                "listener", "INSTAGRAM_VERIFY_TOKEN is not set: Meta's verify handshake cannot succeed",
                fix: "set INSTAGRAM_VERIFY_TOKEN to the Verify Token you enter in Meta's webhook settings, and restart the daemon")
        }
        guard let address = HostPort.parse(hello) else {
            return .fail("listener", "the daemon names no listener address (\(hello))", fix: "restart the daemon")
        }
        var host = address.host
        if host == "0.0.0.0" || host.isEmpty { host = "127.0.0.1" }
        if host == "::" { host = "::1" }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let url = "http://\(shownHost):\(address.port)/webhooks/instagram"
        let challenge = String(UInt32.random(in: 100_000...UInt32.max))
        var components = URLComponents(string: url)!
        components.queryItems = [
            URLQueryItem(name: "hub.mode", value: "subscribe"), URLQueryItem(name: "hub.verify_token", value: verifyToken),
            URLQueryItem(name: "hub.challenge", value: challenge),
        ]
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        do {
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: components.string ?? url), timeout: .seconds(Int64(timeout)))
            let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
            if response.status.code == 200 && body == challenge {
                return .ok("listener", "GET \(url) answered the verify handshake")
            }
            if response.status.code == 403 {
                return .fail(
                    "listener", "GET \(url) refused the verify handshake (403): the daemon runs with another INSTAGRAM_VERIFY_TOKEN",
                    fix: "restart the daemon after changing INSTAGRAM_VERIFY_TOKEN, or run doctor with the daemon's configuration")
            }
            return .fail(
                "listener", "GET \(url) answered \(response.status.code) without the challenge",
                fix: "check that nothing else listens on \(address) and that the daemon is healthy (curl \(shownHost):\(address.port)/health)")
        } catch {
            return .fail(
                "listener", "GET \(url) failed: \(error)",
                fix: "check HOST and PORT, and that no firewall blocks \(address) on this machine")
        }
    }
}
