/// Passwords inside URLs (`redis://:secret@host`, `https://user:token@proxy/v1`) must never reach the
/// `dmdesk config` listing, an error message, `/health` or a log line. Everything that shows a URL which may
/// carry userinfo goes through here: the user is kept (it says which account), the password becomes `****`.
public enum URLSecrets {
    public static let mask = "****"

    /// One configured URL, perhaps malformed (the value of `REDIS_URL`, say). The userinfo ends at the *last*
    /// `@`, so a password holding an unescaped `@`, `/`, `#` or `?` (a common reason a URL does not parse) is
    /// still masked whole (an `@` in a query is then masked too: a listing may over-mask, never leak). With no
    /// `@`, a `scheme://:rest` form is taken as an empty user and a password.
    ///
    ///     redis://:s3cret@cache:6379/0    → redis://:****@cache:6379/0
    ///     https://bot:p@ss/word@llm/v1    → https://bot:****@llm/v1
    public static func masking(url value: String) -> String {
        let scalars = Array(value.unicodeScalars)
        let start = authorityStart(scalars)
        guard let at = scalars[start...].lastIndex(of: "@") else {
            // `redis://:secret` — no host at all, but the shape of a password.
            if start < scalars.count, scalars[start] == ":", start > 0 {
                return String(String.UnicodeScalarView(scalars[...start])) + mask
            }
            return value
        }
        guard let userinfo = maskedUserinfo(scalars[start..<at]) else { return value }
        var out = String.UnicodeScalarView(scalars[..<start])
        out.append(contentsOf: userinfo)
        out.append(contentsOf: scalars[at...])
        return String(out)
    }

    /// Free text (a log line, an error from a library): every `scheme://user:password@` in it masked. A URL
    /// here ends at white space or a quote, its authority at the first `/`, `?` or `#` (RFC 3986).
    public static func maskingPasswords(in text: String) -> String {
        // Fast path: almost every line has no userinfo at all.
        guard text.utf8.contains(UInt8(ascii: "@")), text.contains("://") else { return text }
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        var copiedTo = 0
        while i + 2 < scalars.count {
            guard scalars[i] == ":", scalars[i + 1] == "/", scalars[i + 2] == "/" else {
                i += 1
                continue
            }
            let start = i + 3
            var end = start
            var at: Int? = nil
            while end < scalars.count, !endsURL(scalars[end]) {
                let c = scalars[end]
                if c == "/" || c == "?" || c == "#" { break }
                if c == "@" { at = end }
                end += 1
            }
            if let at, let userinfo = maskedUserinfo(scalars[start..<at]) {
                out.append(contentsOf: scalars[copiedTo..<start])
                out.append(contentsOf: userinfo)
                copiedTo = at
            }
            i = max(end, start)
        }
        guard copiedTo > 0 else { return text }
        out.append(contentsOf: scalars[copiedTo...])
        return String(out)
    }

    /// Where the userinfo would begin: after `scheme:` and its slashes (`redis://`, a malformed `redis:/`), else 0
    /// (`user:pw@host` has no scheme: `user` is not one, as no `/` follows it).
    private static func authorityStart(_ s: [Unicode.Scalar]) -> Int {
        func isSchemeCharacter(_ c: Unicode.Scalar) -> Bool {
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "+" || c == "-" || c == ".")
        }
        guard let first = s.first, first.isASCII, first.properties.isAlphabetic else { return 0 }
        var i = 1
        while i < s.count, isSchemeCharacter(s[i]) { i += 1 }
        guard i + 1 < s.count, s[i] == ":", s[i + 1] == "/" else { return 0 }
        i += 1
        while i < s.count, s[i] == "/" { i += 1 }
        return i
    }

    /// `user:password` as `user:****`; nil when there is no password (`user@host`), so nothing changes.
    private static func maskedUserinfo(_ userinfo: ArraySlice<Unicode.Scalar>) -> String.UnicodeScalarView? {
        guard let colon = userinfo.firstIndex(of: ":") else { return nil }
        var out = String.UnicodeScalarView(userinfo[...colon])
        out.append(contentsOf: mask.unicodeScalars)
        return out
    }

    private static func endsURL(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || c == "\"" || c == "'" || c == "<" || c == ">" || c == "`" || c.value < 0x20
    }
}
