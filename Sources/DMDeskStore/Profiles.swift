import DMDeskCore
import Foundation
import GRDB

extension SQLiteStore {
    public func profilesToFetch(_ ids: [String]) async throws -> [String] {
        guard !ids.isEmpty else { return [] }
        return try await read { db in
            let statement = try db.cachedStatement(sql: "SELECT profile_fetched_at IS NOT NULL FROM profiles WHERE id = ?")
            return try ids.filter { id in try Bool.fetchOne(statement, arguments: [id]) != true }
        }
    }

    public func saveProfiles(_ profiles: [ProfileUpdate]) async -> [Result<JournalEvent?, any Error>] {
        await writeEach(profiles, as: .other) { profile, db in
            let now = nowMillis()
            try db.cachedStatement(
                sql: """
                    UPDATE profiles SET username = ?, name = ?, picture = ?, profile_fetched_at = ?, updated_at = ?
                    WHERE id = ?
                    """
            ).execute(arguments: [profile.username, profile.name, profile.picture, now, now, profile.id])
            guard let summary = try Self.threadSummary(db, id: profile.id) else { return nil }
            return try Self.journal(db, type: EventType.threadUpdated, thread: profile.id, data: .from(summary))
        }
    }
}
