import DMDeskCore
import Foundation

/// The account an access token belongs to, as `GET /me` describes it.
public struct GraphAccount: Sendable, Equatable {
    public var id: String
    /// The Instagram professional account id (`user_id`), when Meta names it apart from the app-scoped `id`.
    public var userId: String?
    public var username: String?
    public var name: String?

    public init(id: String, userId: String? = nil, username: String?, name: String?) {
        self.id = id
        self.userId = userId
        self.username = username
        self.name = name
    }
}

/// Meta's answer to `GET /me`: the account or its refusal (a `GraphError`, code 190 for a bad token), and the `Date`
/// header it came with, whichever it was, so a caller can compare clocks even when the token is refused.
public struct GraphMeAnswer: Sendable {
    public var account: Result<GraphAccount, GraphError>
    public var serverDate: Date?
}

extension GraphClient {
    /// `GET /me?fields=id,user_id,username,name`: whose token this is. Meta's refusals are `GraphError`s
    /// (`isTokenInvalid` for code 190: invalid, expired or revoked).
    public func me(timeout: Duration? = nil) async throws(GraphError) -> GraphAccount {
        try await meAnswer(timeout: timeout).account.get()
    }

    /// `me()` with the answer's `Date` header. Throws only when there was no answer at all (network, not configured).
    public func meAnswer(timeout: Duration? = nil) async throws(GraphError) -> GraphMeAnswer {
        guard let token = instagramToken else {
            throw .notConfigured("Instagram access token (INSTAGRAM_ACCESS_TOKEN)")
        }
        let url = try Self.url(base: settings.instagramBaseURL, path: "/me", query: [("fields", "id,user_id,username,name")])
        let answer = try await exchange(.GET, url: url, token: token, body: nil, api: "instagram", timeout: timeout)
        let account = answer.result.flatMap { json -> Result<GraphAccount, GraphError> in
            guard let id = json["id"]?.idString ?? json["user_id"]?.idString else {
                return .failure(GraphError(kind: .invalidResponse("GET /me answered without an id"), status: 200))
            }
            return .success(
                GraphAccount(
                    id: id, userId: json["user_id"]?.idString, username: json["username"]?.stringValue,
                    name: json["name"]?.stringValue))
        }
        return GraphMeAnswer(account: account, serverDate: answer.serverDate)
    }
}
