import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A refreshed long-lived Instagram token, as the daemon keeps it in `<data dir>/access-token.json`.
public struct StoredAccessToken: Equatable, Sendable {
    public var accessToken: String
    public var expiresAt: EpochMillis
    public var refreshedAt: EpochMillis
    /// `AccessTokenFile.fingerprint` of the configured token this one descends from: when the operator configures a new
    /// `INSTAGRAM_ACCESS_TOKEN`, the file no longer matches and the configured token wins.
    public var configuredFingerprint: String

    public init(accessToken: String, expiresAt: EpochMillis, refreshedAt: EpochMillis, configuredFingerprint: String) {
        self.accessToken = accessToken
        self.expiresAt = expiresAt
        self.refreshedAt = refreshedAt
        self.configuredFingerprint = configuredFingerprint
    }
}

/// Reads and writes `access-token.json`: mode 0600 from its first byte (written to a private temporary file, then
/// renamed over the old one, so a crash leaves the old token or the new one, never half of either).
public enum AccessTokenFile {
    public static func path(dataDir: String) -> String { dataDir + "/access-token.json" }

    /// A short, one-way name for a configured token: enough to notice it changed, useless to anyone who reads it.
    public static func fingerprint(_ token: String) -> String { String(Crypto.sha256Hex(token).prefix(16)) }

    /// The stored token descending from `configured`; nil when there is none, it is unreadable or malformed, or it
    /// descends from another configured token.
    public static func load(dataDir: String, configured: String?) -> StoredAccessToken? {
        guard let configured, let data = FileManager.default.contents(atPath: path(dataDir: dataDir)),
            let json = try? JSONValue.parse(data),
            let token = json["access_token"]?.stringValue, !token.isEmpty,
            let expiresAt = json["expires_at"]?.integer(in: 0...Int64(9e15)),
            let refreshedAt = json["refreshed_at"]?.integer(in: 0...Int64(9e15)),
            let origin = json["configured_fingerprint"]?.stringValue, origin == fingerprint(configured)
        else { return nil }
        return StoredAccessToken(
            accessToken: token, expiresAt: EpochMillis(expiresAt), refreshedAt: EpochMillis(refreshedAt),
            configuredFingerprint: origin)
    }

    public static func save(_ stored: StoredAccessToken, dataDir: String) throws(AccessTokenFileError) {
        let json: JSONValue = .object([
            "access_token": .string(stored.accessToken),
            "expires_at": .number(Double(stored.expiresAt)),
            "refreshed_at": .number(Double(stored.refreshedAt)),
            "configured_fingerprint": .string(stored.configuredFingerprint),
        ])
        let bytes = json.compactBytes
        let final = path(dataDir: dataDir)
        let temporary = final + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AccessTokenFileError(path: temporary, errno: errno) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary, final) == 0 else {
            let code = errno
            unlink(temporary)
            throw AccessTokenFileError(path: final, errno: code)
        }
    }
}

/// Writing `access-token.json` failed; the message names the file and the system's reason.
public struct AccessTokenFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var errno: Int32
    public var description: String { "could not write \(path): \(String(cString: strerror(errno)))" }
}
