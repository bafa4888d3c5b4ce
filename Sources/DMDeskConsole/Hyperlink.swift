import DMDeskCore

/// OSC 8 hyperlinks for the links customers send (attachments, stories). The escape sequence is dmdesk's own: the URL
/// inside it is customer data, so it is only ever a URL that passes `target(for:)`, and the text shown for it is
/// the sanitised URL, drawn like any other text.
public enum Hyperlink {
    /// Longer URLs are shown but not linked (terminals cap OSC 8 URIs; Meta's CDN links are far shorter).
    public static let maxURLBytes = 2048

    /// The URL as an OSC 8 target, or nil when it is not strictly an http(s) URL of printable ASCII: no control
    /// characters, no spaces, nothing that could end the sequence early or start another.
    public static func target(for url: String) -> String? {
        guard url.utf8.count <= maxURLBytes else { return nil }
        guard url.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") { rest = lower.dropFirst(8) } else if lower.hasPrefix("http://") { rest = lower.dropFirst(7) } else {
            return nil
        }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !host.isEmpty else { return nil }
        return url
    }

    /// Whether to write OSC 8 at all: `DMDESK_HYPERLINKS=0` turns it off and `=1` on; otherwise on, except on
    /// terminals known not to parse OSC sequences (the Linux console, dumb and VT-series terminals), which would
    /// print them.
    public static func supported(environment: [String: String]) -> Bool {
        if let setting = environment["DMDESK_HYPERLINKS"], !setting.isEmpty {
            return parseBool(setting) ?? true
        }
        let term = environment["TERM"] ?? ""
        return !(term.isEmpty || term == "dumb" || term == "linux" || term.hasPrefix("vt"))
    }

    /// `text` as a link to `target` (already checked), underlined; the caller saves and restores the cursor and
    /// attributes around it.
    static func sequence(target: String, text: String) -> String {
        "\u{1B}[0;4m\u{1B}]8;;\(target)\u{1B}\\\(text)\u{1B}]8;;\u{1B}\\"
    }
}
