import Foundation

/// The media kinds Instagram's Send API takes by URL (`message.attachment.type`).
public enum AttachmentKind: String, Codable, Sendable, CaseIterable {
    case image, video, audio, file

    /// The kind an operator most likely means by a URL, from its path's extension (Meta's supported formats:
    /// image png/jpeg/gif, video mp4/ogg/avi/mov/webm, audio aac/m4a/wav); anything else is sent as a file.
    public static func guess(fromURL url: String) -> AttachmentKind {
        let path = URLComponents(string: url)?.path ?? url
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        guard let dot = name.lastIndex(of: ".") else { return .file }
        switch name[name.index(after: dot)...].lowercased() {
        case "jpg", "jpeg", "png", "gif", "webp", "heic": return .image
        case "mp4", "mov", "avi", "webm", "ogv", "ogg", "m4v": return .video
        case "m4a", "aac", "wav", "mp3", "oga", "opus": return .audio
        default: return .file
        }
    }
}

/// Media an operator sends by URL: becomes Meta's `message.attachment` `{type, payload: {url}}`.
public struct OutgoingAttachment: Codable, Sendable, Equatable {
    public var type: AttachmentKind
    public var url: String

    public init(type: AttachmentKind, url: String) {
        self.type = type
        self.url = url
    }

    /// Longer URLs are refused before anything is queued (browsers and CDNs stop around here too).
    public static let maxURLBytes = 2048

    /// Why `url` cannot be sent, or nil: http or https with a host, no white space or control characters, at most
    /// `maxURLBytes`. Meta fetches the media itself, so the URL must be one it can reach.
    public static func problem(with url: String) -> String? {
        if url.isEmpty { return "the attachment URL is empty" }
        if url.utf8.count > maxURLBytes {
            return "the attachment URL is \(url.utf8.count) bytes; at most \(maxURLBytes) are accepted"
        }
        if url.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.isWhitespace }) {
            return "the attachment URL contains white space or control characters; percent-encode them (%20)"
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return "the attachment URL is not a valid URL (expected http:// or https://…)"
        }
        guard scheme == "http" || scheme == "https" else {
            return "the attachment URL must start with http:// or https:// (Instagram fetches it from the web), not \(scheme):"
        }
        guard let host = components.host, !host.isEmpty else { return "the attachment URL has no host" }
        return nil
    }

    /// A valid attachment, or the reason it is not; `type` nil guesses it from the URL.
    public static func make(url rawURL: String, type: AttachmentKind? = nil) -> Result<OutgoingAttachment, AttachmentProblem> {
        let url = rawURL.trimmingCharacters(in: .whitespaces)
        if let problem = problem(with: url) { return .failure(AttachmentProblem(message: problem)) }
        return .success(OutgoingAttachment(type: type ?? .guess(fromURL: url), url: url))
    }
}

/// An attachment that cannot be sent as given, with what to do about it.
public struct AttachmentProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
