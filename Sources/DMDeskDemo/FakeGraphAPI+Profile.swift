import DMDeskCore
import Foundation
import Hummingbird

/// The stand-in's messenger profile: `GET`, `POST` and `DELETE /me/messenger_profile` with `platform=instagram`,
/// checked as Meta checks them (ice breakers: at most 4 questions per locale, a `default` locale; the persistent
/// menu: postback and web_url buttons), answered with Meta's shapes and `(#100)` errors.
extension FakeGraphAPI {
    /// The profile as set: `ice_breakers` and `persistent_menu` values, as the last POST gave them.
    public func messengerProfileFields() -> [String: JSONValue] { state.withLock { $0.messengerProfile } }

    static let profileFields: Set<String> = Set(MessengerProfileField.allCases.map(\.rawValue))

    func messengerProfile(method: HTTPRequest.Method, query: String, body: JSONValue?) -> Response {
        let items = URLComponents(string: "http://x/?" + query)?.queryItems ?? []
        func parameter(_ name: String) -> String? { items.first { $0.name == name }?.value }
        let platform = parameter("platform") ?? body?["platform"]?.stringValue
        guard platform == "instagram" else {
            return Self.invalidParameter("param platform must be instagram for an Instagram account's messenger profile.")
        }
        switch method {
        case .get:
            guard let fields = parameter("fields")?.split(separator: ",").map(String.init), !fields.isEmpty else {
                return Self.invalidParameter("The parameter fields is required.")
            }
            if let unknown = fields.first(where: { !Self.profileFields.contains($0) }) {
                return Self.invalidParameter("Tried accessing nonexisting field (\(unknown)) on node type (MessengerProfile).")
            }
            let set = state.withLock { $0.messengerProfile }.filter { fields.contains($0.key) }
            return Self.json(["data": set.isEmpty ? [] : [.object(set)]])
        case .post:
            guard let object = body?.objectValue else { return Self.invalidParameter("The request body must be a JSON object.") }
            let given = object.keys.filter { $0 != "platform" }
            guard !given.isEmpty else {
                return Self.invalidParameter("Requires one of the params: \(Self.profileFields.sorted().joined(separator: ",")).")
            }
            for key in given {
                guard Self.profileFields.contains(key) else { return Self.invalidParameter("Param \(key) is not supported.") }
                if let problem = Self.profileProblem(key, object[key] ?? .null) { return Self.invalidParameter(problem) }
            }
            state.withLock { state in for key in given { state.messengerProfile[key] = object[key] } }
            return Self.json(["result": "success"])
        case .delete:
            guard let fields = body?["fields"]?.arrayValue?.compactMap(\.stringValue), !fields.isEmpty else {
                return Self.invalidParameter("The parameter fields is required.")
            }
            if let unknown = fields.first(where: { !Self.profileFields.contains($0) }) {
                return Self.invalidParameter("Param fields[\(unknown)] is not a valid messenger profile field.")
            }
            state.withLock { state in for field in fields { state.messengerProfile[field] = nil } }
            return Self.json(["result": "success"])
        default:
            return Self.metaError(
                status: 400, code: 100, message: "Unsupported \(method.rawValue.lowercased()) request.", type: "GraphMethodException")
        }
    }

    /// Why Meta refuses this value of `field`, or nil.
    static func profileProblem(_ field: String, _ value: JSONValue) -> String? {
        guard let locales = value.arrayValue, !locales.isEmpty else { return "Param \(field) must be a non-empty array." }
        var sawDefault = false
        for (i, locale) in locales.enumerated() {
            let place = "\(field)[\(i)]"
            guard let name = locale["locale"]?.stringValue else { return "Param \(place)[locale] is required." }
            if name == MessengerProfileLimits.locale { sawDefault = true }
            guard let actions = locale["call_to_actions"]?.arrayValue, !actions.isEmpty else {
                return "Param \(place)[call_to_actions] must be a non-empty array."
            }
            let most = field == MessengerProfileField.iceBreakers.rawValue
                ? MessengerProfileLimits.maxQuestions : MessengerProfileLimits.maxMenuButtons
            if actions.count > most {
                return field == MessengerProfileField.iceBreakers.rawValue
                    ? "A maximum of \(most) questions can be set in \(place)[call_to_actions]."
                    : "Param \(place)[call_to_actions] must have at most \(most) elements."
            }
            for (j, action) in actions.enumerated() {
                if let problem = actionProblem(field, action, place: "\(place)[call_to_actions][\(j)]") { return problem }
            }
        }
        return sawDefault ? nil : "Param \(field) must have a locale set to default."
    }

    private static func actionProblem(_ field: String, _ action: JSONValue, place: String) -> String? {
        func text(_ key: String, limit: Int) -> String? {
            guard let value = action[key]?.stringValue, !value.isEmpty else { return "Param \(place)[\(key)] must be a non-empty string." }
            return value.count > limit ? "Param \(place)[\(key)] must be at most \(limit) characters." : nil
        }
        if field == MessengerProfileField.iceBreakers.rawValue {
            return text("question", limit: MessengerProfileLimits.maxQuestionCharacters)
                ?? text("payload", limit: MessengerProfileLimits.maxPayloadCharacters)
        }
        if let problem = text("title", limit: MessengerProfileLimits.maxButtonTitleCharacters) { return problem }
        switch action["type"]?.stringValue {
        case "postback":
            return text("payload", limit: MessengerProfileLimits.maxPayloadCharacters)
        case "web_url":
            guard let url = action["url"]?.stringValue.flatMap(URL.init(string:)), let scheme = url.scheme?.lowercased(),
                ["http", "https"].contains(scheme), url.host != nil
            else { return "Param \(place)[url] must be a valid URL." }
            return nil
        default:
            return "Param \(place)[type] must be one of {postback, web_url}."
        }
    }
}
