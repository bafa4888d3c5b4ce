import Foundation

/// Where the Graph APIs live and how to authenticate, filled from config by the daemon.
/// Base URLs carry the API version and no trailing slash, e.g. `https://graph.instagram.com/v24.0`.
public struct GraphSettings: Sendable {
    public var instagramBaseURL: String
    public var accessToken: String?
    public var whatsappBaseURL: String
    /// The WhatsApp Cloud API token; when nil the Instagram `accessToken` is used.
    public var whatsappToken: String?
    public var whatsappPhoneNumberId: String?
    /// Deadline for one HTTP attempt (connect, send and read the answer).
    public var requestTimeout: Duration

    public static let defaultInstagramBaseURL = "https://graph.instagram.com/v24.0"
    public static let defaultWhatsAppBaseURL = "https://graph.facebook.com/v24.0"

    public init(
        instagramBaseURL: String = GraphSettings.defaultInstagramBaseURL,
        accessToken: String? = nil,
        whatsappBaseURL: String = GraphSettings.defaultWhatsAppBaseURL,
        whatsappToken: String? = nil,
        whatsappPhoneNumberId: String? = nil,
        requestTimeout: Duration = .seconds(15)
    ) {
        self.instagramBaseURL = Self.trimmingTrailingSlashes(instagramBaseURL)
        self.accessToken = accessToken
        self.whatsappBaseURL = Self.trimmingTrailingSlashes(whatsappBaseURL)
        self.whatsappToken = whatsappToken
        self.whatsappPhoneNumberId = whatsappPhoneNumberId
        self.requestTimeout = requestTimeout
    }

    /// A configured value of "" means "not set": an empty bearer token would only earn a 190 from Meta.
    var instagramToken: String? { Self.nonEmpty(accessToken) }
    var effectiveWhatsAppToken: String? { Self.nonEmpty(whatsappToken) ?? Self.nonEmpty(accessToken) }
    var phoneNumberId: String? { Self.nonEmpty(whatsappPhoneNumberId) }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    static func trimmingTrailingSlashes(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}
