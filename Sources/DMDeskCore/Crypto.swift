import COpenSSL
import Foundation

/// HMAC, hashing, random tokens and constant-time comparison, all from OpenSSL's libcrypto.
public enum Crypto {
    public static func hmacSHA256(key: String, data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let keyBytes = Array(key.utf8)
        let ok = keyBytes.withUnsafeBytes { k in
            out.withUnsafeMutableBufferPointer { o in
                dm_hmac_sha256(k.baseAddress, Int32(k.count), data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, o.baseAddress)
            }
        }
        precondition(ok == 1, "HMAC-SHA256 failed in libcrypto")
        return out
    }

    public static func hmacSHA256<D: ContiguousBytes>(key: String, bytes: D) -> [UInt8] {
        bytes.withUnsafeBytes { hmacSHA256(key: key, data: $0) }
    }

    public static func sha256<D: ContiguousBytes>(_ bytes: D) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { d in
            out.withUnsafeMutableBufferPointer { o in
                _ = dm_sha256(d.baseAddress, d.count, o.baseAddress)
            }
        }
        return out
    }

    public static func sha256Hex(_ string: String) -> String { hex(sha256(Array(string.utf8))) }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { dm_random_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: the system has no entropy source")
        return out
    }

    /// Compares two byte strings in time that depends only on their length.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in dm_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 } }
    }

    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        // Hash first so the comparison length never depends on the secret's length.
        constantTimeEqual(sha256(Array(a.utf8)), sha256(Array(b.utf8)))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    public static func hex(_ bytes: [UInt8]) -> String {
        var chars = [UInt8]()
        chars.reserveCapacity(bytes.count * 2)
        for b in bytes {
            chars.append(hexDigits[Int(b >> 4)])
            chars.append(hexDigits[Int(b & 0x0f)])
        }
        return String(decoding: chars, as: UTF8.self)
    }

    public static func unhex(_ string: Substring) -> [UInt8]? {
        let utf8 = Array(string.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// The `X-Hub-Signature-256` check Meta's webhooks require.
public enum WebhookSignature {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missing
        case malformed
        case mismatch
        public var description: String {
            switch self {
            case .missing: return "X-Hub-Signature-256 header is missing"
            case .malformed: return "X-Hub-Signature-256 header is not sha256=<64 hex digits>"
            case .mismatch: return "X-Hub-Signature-256 does not match the body"
            }
        }
    }

    public static func header(secret: String, body: some ContiguousBytes) -> String {
        "sha256=" + Crypto.hex(Crypto.hmacSHA256(key: secret, bytes: body))
    }

    /// Checks the header against the raw body bytes, never a re-serialisation of them.
    public static func verify(header: String?, secret: String, body: UnsafeRawBufferPointer) throws(Failure) {
        guard let header, !header.isEmpty else { throw .missing }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("sha256="), let given = Crypto.unhex(trimmed.dropFirst(7)), given.count == 32
        else { throw .malformed }
        let expected = Crypto.hmacSHA256(key: secret, data: body)
        guard Crypto.constantTimeEqual(given, expected) else { throw .mismatch }
    }
}
