import Foundation

/// What dmdesk knows about the Instagram access token: `dmdesk token status`, `/health` and the `token_status`
/// request. Never the token itself.
public struct TokenReport: Codable, Sendable, Equatable {
    /// "ok" (no call has been refused), "invalid" (Meta answered 190) or "missing" (none configured).
    public var status: String
    /// "configured" (INSTAGRAM_ACCESS_TOKEN) or "refreshed" (access-token.json, from a refresh); nil when missing.
    public var source: String?
    /// `DMDESK_TOKEN_REFRESH`: "off" or "auto".
    public var refresh: String
    /// When the token in use expires, from Meta's refresh answer; nil until dmdesk has refreshed it once.
    public var expiresAt: EpochMillis?
    public var refreshedAt: EpochMillis?
    /// When the daemon will refresh next (auto only).
    public var nextRefreshAt: EpochMillis?
    /// The last time Meta judged the token (a refresh, or a send it refused with 190), and what it said.
    public var lastCheckAt: EpochMillis?
    public var lastCheck: String?
    /// Meta's refusal while the token is invalid.
    public var error: String?

    public init(
        status: String, source: String?, refresh: String, expiresAt: EpochMillis? = nil, refreshedAt: EpochMillis? = nil,
        nextRefreshAt: EpochMillis? = nil, lastCheckAt: EpochMillis? = nil, lastCheck: String? = nil, error: String? = nil
    ) {
        self.status = status
        self.source = source
        self.refresh = refresh
        self.expiresAt = expiresAt
        self.refreshedAt = refreshedAt
        self.nextRefreshAt = nextRefreshAt
        self.lastCheckAt = lastCheckAt
        self.lastCheck = lastCheck
        self.error = error
    }
}

extension DMDeskConfig {
    /// The token dmdesk calls Meta with: a refreshed one from access-token.json while it is unexpired and descends
    /// from the configured INSTAGRAM_ACCESS_TOKEN, else the configured one.
    public func currentAccessToken(now: EpochMillis = nowMillis()) -> String? {
        if let stored = AccessTokenFile.load(dataDir: dataDir, configured: accessToken), stored.expiresAt > now {
            return stored.accessToken
        }
        return accessToken
    }
}

/// RFC 3339 in UTC to the second, e.g. `2026-12-03T12:00:00Z`.
public func iso8601UTC(millis: EpochMillis) -> String {
    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
}
