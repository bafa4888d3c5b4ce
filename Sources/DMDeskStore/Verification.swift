import DMDeskCore
import Foundation
import GRDB

/// Account-linking tokens: 32 random bytes as hex, sent once in a DM; only their SHA-256 is stored.
public enum VerificationTokens {
    public static let lifetimeMillis: EpochMillis = 3_600_000

    /// A fresh plaintext token (64 hex characters).
    public static func generate() -> String { Crypto.hex(Crypto.randomBytes(32)) }

    public static func hash(_ token: String) -> String { Crypto.sha256Hex(token) }

    /// `DMDESK_VERIFY_URL` with `{token}` and `{ig_id}` filled in (URL-encoded).
    public static func link(template: String, token: String, igId: String) -> String {
        func enc(_ s: String) -> String {
            s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
        }
        return template.replacingOccurrences(of: "{token}", with: enc(token)).replacingOccurrences(of: "{ig_id}", with: enc(igId))
    }
}

/// Why `GET /verify` did not connect a profile.
public enum VerificationFailure: Error, Equatable, CustomStringConvertible, Sendable {
    case missing(String)
    case unknown
    case wrongAccount
    case expired
    case used

    public var description: String {
        switch self {
        case .missing(let field): return "the link is incomplete: `\(field)` is missing"
        case .unknown: return "this verification link is not valid"
        case .wrongAccount: return "this verification link belongs to another Instagram account"
        case .expired: return "this verification link has expired; send us a new message to get a fresh one"
        case .used: return "this verification link has already been used"
        }
    }
}

public struct VerificationResult: Sendable {
    public var igId: String
    public var events: [JournalEvent]
}

extension SQLiteStore {
    /// Stores a token's hash for `igId` inside the caller's transaction. Returns nil when `eventId` already created
    /// one (a redelivered event).
    static func insertVerificationToken(
        _ db: Database, tokenHash: String, igId: String, eventId: String?, now: EpochMillis
    ) throws -> VerificationTokenRecord? {
        if let eventId, try tokenCreated(by: eventId, db: db) != nil { return nil }
        var record = VerificationTokenRecord(
            id: nil, token_hash: tokenHash, ig_id: igId, expires_at: now + VerificationTokens.lifetimeMillis,
            consumed_at: nil, event_id: eventId, created_at: now)
        try record.insert(db)
        return record
    }

    static func tokenCreated(by eventId: String, db: Database) throws -> VerificationTokenRecord? {
        try VerificationTokenRecord.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM verification_tokens WHERE event_id = ?"), arguments: [eventId])
    }

    static func token(hash: String, db: Database) throws -> VerificationTokenRecord? {
        try VerificationTokenRecord.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM verification_tokens WHERE token_hash = ?"), arguments: [hash])
    }

    public func issueVerificationToken(hash: String, igId: String, eventId: String, now: EpochMillis) async throws
        -> (token: VerificationTokenRecord, created: Bool)
    {
        try await write(.other) { db in
            if let made = try Self.insertVerificationToken(db, tokenHash: hash, igId: igId, eventId: eventId, now: now) {
                return (made, true)
            }
            // The same event again: it created its token already; answer with that one.
            return (try Self.tokenCreated(by: eventId, db: db)!, false)
        }
    }

    public func queueVerificationLink(hash: String, igId: String, draft: OutboundDraft, now: EpochMillis) async throws
        -> Result<OutboxChange, VerificationFailure>
    {
        do {
            return .success(
                try await write(.outbox) { db in
                    if let existing = try Self.token(hash: hash, db: db) {
                        // Thrown, not returned: nothing was written, so the refusal says nothing about write health.
                        guard existing.ig_id == igId else { throw VerificationFailure.wrongAccount }
                        guard existing.consumed_at == nil else { throw VerificationFailure.used }
                        guard existing.expires_at > now else { throw VerificationFailure.expired }
                    } else {
                        _ = try Self.insertVerificationToken(db, tokenHash: hash, igId: igId, eventId: nil, now: now)
                    }
                    return try Self.enqueue(draft, in: db, threadExists: false)
                })
        } catch let refusal as VerificationFailure {
            return .failure(refusal)
        }
    }

    public func verificationToken(eventId: String) async throws -> VerificationTokenRecord? {
        try await read { db in try Self.tokenCreated(by: eventId, db: db) }
    }

    public func verificationTokens(igId: String) async throws -> [VerificationTokenRecord] {
        try await read { db in
            try VerificationTokenRecord.fetchAll(db, sql: "SELECT * FROM verification_tokens WHERE ig_id = ? ORDER BY id", arguments: [igId])
        }
    }

    public func consumeVerification(token: String, igId: String, now: EpochMillis) async throws
        -> Result<VerificationResult, VerificationFailure>
    {
        let hash = VerificationTokens.hash(token)
        return try await write(.other) { db -> Result<VerificationResult, VerificationFailure> in
            guard var record = try Self.token(hash: hash, db: db) else { return .failure(.unknown) }
            guard Crypto.constantTimeEqual(record.ig_id, igId) else { return .failure(.wrongAccount) }
            if record.consumed_at != nil { return .failure(.used) }
            if record.expires_at <= now { return .failure(.expired) }
            record.consumed_at = now
            try record.update(db)
            try Self.ensureThread(db, id: igId, now: now)
            try db.execute(
                sql: "UPDATE profiles SET connected = 1, connected_at = ?, updated_at = ? WHERE id = ?",
                arguments: [now, now, igId])
            var events: [JournalEvent] = []
            if let summary = try Self.threadSummary(db, id: igId) {
                events.append(try Self.journal(db, type: EventType.threadUpdated, thread: igId, data: .from(summary)))
            }
            return .success(VerificationResult(igId: igId, events: events))
        }
    }
}
