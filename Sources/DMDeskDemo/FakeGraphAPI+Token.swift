import DMDeskCore
import Foundation
import Hummingbird

extension FakeGraphAPI {
    /// How long tokens from `/refresh_access_token` live (`expires_in`); Meta's is 60 days.
    public func setRefreshTokenLifetime(seconds: Int) { state.withLock { $0.refreshTokenLifetime = seconds } }

    /// Accepts `token` beside `expectedToken` (e.g. a WhatsApp token of its own).
    public func acceptToken(_ token: String) { _ = state.withLock { $0.refreshedTokens.insert(token) } }

    /// Meta invalidates `token` (the user changed their password, removed the app): calls with it answer 190 with
    /// subcode 460 until `restoreToken`.
    public func revokeToken(_ token: String) { _ = state.withLock { $0.revokedTokens.insert(token) } }
    public func restoreToken(_ token: String) { _ = state.withLock { $0.revokedTokens.remove(token) } }

    func revokedTokenAnswer(authorization: String?, query: String) -> Response? {
        let inQuery = URLComponents(string: "http://x/?" + query)?.queryItems?.first { $0.name == "access_token" }?.value
        let token = authorization.map { String($0.dropFirst("Bearer ".count)) } ?? inQuery
        guard let token, state.withLock({ $0.revokedTokens.contains(token) }) else { return nil }
        return Self.metaError(
            status: 400, code: 190, subcode: 460,
            message: "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
            type: "OAuthException")
    }

    /// How many refreshes the stand-in granted.
    public var refreshCount: Int { state.withLock { $0.refreshCount } }

    /// `GET /refresh_access_token?grant_type=ig_refresh_token&access_token=T`, as Meta answers it: the token rides in
    /// the query (no version in the path); a wrong grant type is code 100, an unknown token 190. A granted token is
    /// accepted from then on, beside the old one (which stays valid until its own expiry at Meta).
    func refreshAccessToken(query: String) -> Response {
        let items = URLComponents(string: "http://x/?" + query)?.queryItems ?? []
        let grant = items.first { $0.name == "grant_type" }?.value
        guard grant == "ig_refresh_token" else {
            return Self.metaError(
                status: 400, code: 100, message: "Unsupported grant_type: \(grant ?? "(none)")", type: "OAuthException")
        }
        guard let token = items.first(where: { $0.name == "access_token" })?.value, !token.isEmpty else {
            return Self.metaError(
                status: 400, code: 190,
                message: "An active access token must be used to query information about the current user.",
                type: "OAuthException")
        }
        let known = state.withLock { $0.refreshedTokens.contains(token) }
        if let expectedToken, token != expectedToken, !known {
            return Self.metaError(
                status: 400, code: 190, message: "Invalid OAuth access token - Cannot parse access token", type: "OAuthException")
        }
        let (fresh, lifetime) = state.withLock { s -> (String, Int) in
            s.refreshCount += 1
            let fresh = "IGAAfresh\(s.refreshCount)" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
            s.refreshedTokens.insert(fresh)
            return (fresh, s.refreshTokenLifetime)
        }
        return Self.json(["access_token": .string(fresh), "token_type": "bearer", "expires_in": .number(Double(lifetime))])
    }
}
