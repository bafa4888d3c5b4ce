import DMDeskCore
import NIOHTTP1

/// What a sender action shows the customer: Meta's `sender_action` values besides reactions.
public enum SenderAction: String, Sendable, CaseIterable {
    case typingOn = "typing_on"
    case typingOff = "typing_off"
    case markSeen = "mark_seen"
}

extension GraphClient {
    /// `POST /me/messages` with `sender_action`: a typing indicator or a seen receipt. One attempt within `timeout`.
    public func senderAction(_ action: SenderAction, recipient: String, timeout: Duration) async throws(GraphError) {
        _ = try await instagram(
            .POST, path: "/me/messages",
            body: ["recipient": ["id": .string(recipient)], "sender_action": .string(action.rawValue)], timeout: timeout)
    }

    // MARK: The account's messenger profile (ice breakers, persistent menu)

    /// `GET /me/messenger_profile?fields=…&platform=instagram`: the profile object holding the fields that are set
    /// (Meta answers `{"data":[{…}]}`; an empty `data` when none is set).
    public func messengerProfile(fields: [MessengerProfileField]) async throws(GraphError) -> JSONValue {
        let answer = try await instagram(
            .GET, path: "/me/messenger_profile",
            query: [("fields", fields.map(\.rawValue).joined(separator: ",")), ("platform", "instagram")])
        return answer["data"]?.arrayValue?.first ?? [:]
    }

    /// `POST /me/messenger_profile`: sets one field (its whole value, replacing what was there).
    public func setMessengerProfile(_ field: MessengerProfileField, to value: JSONValue) async throws(GraphError) {
        _ = try await instagram(
            .POST, path: "/me/messenger_profile", query: [("platform", "instagram")],
            body: .object(["platform": "instagram", field.rawValue: value]))
    }

    /// `DELETE /me/messenger_profile` with `{"fields": […]}`: removes the fields.
    public func deleteMessengerProfile(fields: [MessengerProfileField]) async throws(GraphError) {
        _ = try await instagram(
            .DELETE, path: "/me/messenger_profile", query: [("platform", "instagram")],
            body: ["fields": .array(fields.map { .string($0.rawValue) })])
    }
}
