import DMDeskControl
import DMDeskCore
import DMDeskGraph
import Logging
import ServiceLifecycle
import Synchronization

/// Refreshes the Instagram-login long-lived token (`DMDESK_TOKEN_REFRESH=auto`, or `dmdesk token refresh`) and keeps
/// the new one in access-token.json. At start-up it takes up a stored token that descends from the configured one.
final class TokenRefresher: Sendable {
    /// Meta's long-lived tokens live 60 days; refreshing ten days early leaves room for a week of failed attempts.
    static let refreshAhead: EpochMillis = 10 * 86_400_000

    let graph: GraphClient
    let token: TokenState
    let config: DMDeskConfig
    let clock: @Sendable () -> EpochMillis
    /// How long after a failed refresh the next attempt comes (auto only).
    let retryDelay: EpochMillis
    let logger: Logger
    /// The refresh under way: a second caller (the timer and `dmdesk token refresh` together) waits for it.
    private let running = Mutex<Task<Result<TokenReport, ControlError>, Never>?>(nil)

    init(
        graph: GraphClient, token: TokenState, config: DMDeskConfig, clock: @escaping @Sendable () -> EpochMillis,
        retryDelay: Duration, logger: Logger
    ) {
        self.graph = graph
        self.token = token
        self.config = config
        self.clock = clock
        self.retryDelay = max(1000, EpochMillis(retryDelay.milliseconds))
        self.logger = logger
        let now = clock()
        let stored = AccessTokenFile.load(dataDir: config.dataDir, configured: config.accessToken)
        if let stored, stored.expiresAt > now {
            graph.useInstagramToken(stored.accessToken)
            token.update {
                $0.source = "refreshed"
                $0.expiresAt = stored.expiresAt
                $0.refreshedAt = stored.refreshedAt
            }
        } else if let stored {
            logger.warning(
                "the refreshed access token in access-token.json has expired; using INSTAGRAM_ACCESS_TOKEN",
                metadata: ["expired_at": "\(iso8601UTC(millis: stored.expiresAt))"])
        }
        // Unknown expiry (never refreshed): refresh at once, which also tells the expiry.
        let expiresAt = token.snapshot.expiresAt
        token.update { $0.nextRefreshAt = expiresAt.map { $0 - Self.refreshAhead } ?? now }
    }

    var isAutomatic: Bool { config.tokenRefresh == .auto && config.accessToken != nil }

    var report: TokenReport { token.report(configured: config.accessToken != nil, refresh: config.tokenRefresh) }

    /// One refresh (joining one already under way). `trigger` is logged: "auto" or "operator".
    func refresh(trigger: String) async -> Result<TokenReport, ControlError> {
        guard config.accessToken != nil else {
            return .failure(ControlError(code: "not_configured", message: "INSTAGRAM_ACCESS_TOKEN is not set: there is no token to refresh"))
        }
        let task = running.withLock { current in
            if let current { return current }
            let started = Task { await self.perform(trigger: trigger) }
            current = started
            return started
        }
        let result = await task.value
        running.withLock { if $0 == task { $0 = nil } }
        return result
    }

    private func perform(trigger: String) async -> Result<TokenReport, ControlError> {
        let now = clock()
        let fresh: RefreshedToken
        do {
            fresh = try await graph.refreshAccessToken(timeout: .seconds(30))
        } catch {
            let retryAt = now + retryDelay
            if error.isTokenInvalid {
                token.markInvalid("\(error)", at: now)
            } else {
                token.update {
                    $0.lastCheckAt = now
                    $0.lastCheck = "refresh failed: \(error)"
                }
            }
            token.update { $0.nextRefreshAt = retryAt }
            logger.error(
                "access token refresh failed", metadata: ["reason": "\(error)", "trigger": "\(trigger)", "retry_at": "\(iso8601UTC(millis: retryAt))"])
            let what = error.isTokenInvalid
                ? "Meta refused the token (\(error)). Create a new long-lived token in Meta's App Dashboard, set INSTAGRAM_ACCESS_TOKEN and restart the daemon."
                : "the refresh failed (\(error)); the current token stays in use."
            return .failure(ControlError(code: error.isTokenInvalid ? "token_invalid" : "refresh_failed", message: what))
        }
        let expiresAt = now + EpochMillis(fresh.expiresIn) * 1000
        let stored = StoredAccessToken(
            accessToken: fresh.accessToken, expiresAt: expiresAt, refreshedAt: now,
            configuredFingerprint: AccessTokenFile.fingerprint(config.accessToken ?? ""))
        // Meta has issued the token either way, and the old one stays valid until its own expiry: use the new one now
        // even when it cannot be kept, and say so.
        graph.useInstagramToken(fresh.accessToken)
        var saveError: AccessTokenFileError? = nil
        do { try AccessTokenFile.save(stored, dataDir: config.dataDir) } catch { saveError = error }
        token.update {
            $0.source = "refreshed"
            $0.expiresAt = expiresAt
            $0.refreshedAt = now
            $0.lastCheckAt = now
            $0.lastCheck = saveError.map { "refreshed, but \($0)" } ?? "refreshed"
            $0.nextRefreshAt = saveError == nil ? expiresAt - Self.refreshAhead : now + retryDelay
        }
        token.clear()
        if let saveError {
            logger.error("access token refreshed but not kept", metadata: ["reason": "\(saveError)", "trigger": "\(trigger)"])
            return .failure(ControlError(
                code: "token_not_saved",
                message: "Meta issued a new token and the daemon uses it, but \(saveError); a restart would go back to INSTAGRAM_ACCESS_TOKEN. Fix the data directory's permissions."))
        }
        logger.notice(
            "access token refreshed", metadata: ["expires_at": "\(iso8601UTC(millis: expiresAt))", "trigger": "\(trigger)"])
        return .success(report)
    }
}

/// `DMDESK_TOKEN_REFRESH=auto`: refreshes when `nextRefreshAt` comes (ten days before expiry, or at once when the
/// expiry is unknown), retrying after failures. Rechecks each minute, so a manual refresh moves the schedule.
struct TokenRefreshService: Service {
    let refresher: TokenRefresher

    func run() async throws {
        guard refresher.isAutomatic else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let now = refresher.clock()
                let due = refresher.token.snapshot.nextRefreshAt ?? now
                if due <= now {
                    _ = await refresher.refresh(trigger: "auto")
                    continue
                }
                try? await Task.sleep(for: .milliseconds(min(due - now, 60_000)))
            }
        }
    }
}

/// `dmdesk token status|refresh` with no daemon running: the same refresher, over the configured data directory.
public enum OfflineToken {
    static func refresher(config: DMDeskConfig, logger: Logger) -> TokenRefresher {
        let graph = GraphClient(
            settings: GraphSettings(instagramBaseURL: config.apiBaseURL, accessToken: config.accessToken), logger: logger)
        return TokenRefresher(
            graph: graph, token: TokenState(source: config.accessToken == nil ? nil : "configured"), config: config,
            clock: nowMillis, retryDelay: .seconds(3600), logger: logger)
    }

    /// What access-token.json and the configuration say (no call to Meta).
    public static func report(config: DMDeskConfig, logger: Logger) -> TokenReport {
        var report = refresher(config: config, logger: logger).report
        report.nextRefreshAt = nil
        return report
    }

    public static func refresh(config: DMDeskConfig, logger: Logger) async -> Result<TokenReport, ControlError> {
        var result = await refresher(config: config, logger: logger).refresh(trigger: "operator")
        if case .success(var report) = result {
            report.nextRefreshAt = nil
            result = .success(report)
        }
        return result
    }
}
