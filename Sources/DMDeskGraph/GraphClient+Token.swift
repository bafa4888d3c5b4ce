import DMDeskCore
import Foundation

/// A long-lived Instagram token Meta handed back from a refresh, valid for `expiresIn` seconds from now.
public struct RefreshedToken: Sendable, Equatable {
    public var accessToken: String
    public var expiresIn: Int

    public init(accessToken: String, expiresIn: Int) {
        self.accessToken = accessToken
        self.expiresIn = expiresIn
    }
}

extension GraphClient {
    /// `GET /refresh_access_token?grant_type=ig_refresh_token`: a fresh 60-day token for the current one, which must be
    /// a long-lived Instagram-login token at least 24 hours old and not expired. Meta serves it at the unversioned
    /// root of graph.instagram.com and takes the token in the query; the logged URL has it redacted.
    public func refreshAccessToken(timeout: Duration? = nil) async throws(GraphError) -> RefreshedToken {
        guard let token = instagramToken else {
            throw .notConfigured("Instagram access token (INSTAGRAM_ACCESS_TOKEN)")
        }
        let base = Self.unversioned(settings.instagramBaseURL)
        let url = try Self.url(
            base: base, path: "/refresh_access_token", query: [("grant_type", "ig_refresh_token"), ("access_token", token)])
        let answer = try await exchange(.GET, url: url, token: token, body: nil, api: "instagram", timeout: timeout)
        let json = try answer.result.get()
        guard let fresh = json["access_token"]?.stringValue, !fresh.isEmpty,
            let expiresIn = json["expires_in"]?.integer(in: 1...Int64(Int32.max)).map(Int.init)
        else {
            throw GraphError(kind: .invalidResponse("refresh_access_token answered without access_token and expires_in"), status: 200)
        }
        return RefreshedToken(accessToken: fresh, expiresIn: expiresIn)
    }

    /// `https://graph.instagram.com/v24.0` → `https://graph.instagram.com`: the refresh endpoint has no version.
    static func unversioned(_ base: String) -> String {
        let trimmed = GraphSettings.trimmingTrailingSlashes(base)
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        let last = trimmed[trimmed.index(after: slash)...]
        let isVersion = last.first == "v" && last.dropFirst().allSatisfy { $0.isNumber || $0 == "." } && last.count > 1
        return isVersion ? String(trimmed[..<slash]) : trimmed
    }
}
