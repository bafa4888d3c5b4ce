import DMDeskCore
import Foundation
import GRDB

// An unsend (`message.is_deleted`): the customer took the message back, so its text, attachments and links are erased
// wherever dmdesk keeps them — the row, the journal's copies (its views, raw webhook bodies, quotes of it in replies,
// the thread's preview), the agent's steps — and, after the commit, the customer's Redis context (`contextErasures`).
// The row stays, marked `deleted`, so the conversation shows "message unsent" in its place. The connections run
// with `secure_delete`, so the old bytes are overwritten rather than left in the database file's free space.

extension SQLiteStore {
    static func applyUnsend(_ event: WebhookEvent, mid: String, db: Database, outcome: inout IngestOutcome) throws {
        guard var record = try MessageRecord.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM messages WHERE mid = ?1 OR remote_mid = ?1 LIMIT 1"), arguments: [mid])
        else {
            // Not a message dmdesk has (sent before it ran): nothing to erase. The event itself carries no text.
            outcome.events.append(
                try journal(db, type: EventType.unknown, thread: event.customerId.isEmpty ? nil : event.customerId,
                            data: ["kind": "orphan", "mid": .string(mid), "raw": event.raw]))
            return
        }
        if record.deleted && record.text == nil && record.attachments == nil && record.reply_to_story == nil {
            outcome.duplicates += 1  // a redelivery: already erased
            return
        }
        let ids = Set([record.mid] + (record.remote_mid.map { [$0] } ?? []))
        let thread = record.thread_id
        var texts = Set(record.text.map { [$0] } ?? [])
        var secrets = Set<String>()
        func collect(attachments: [Attachment]) {
            for a in attachments { secrets.formUnion([a.url, a.title].compactMap { $0 }) }
        }
        collect(attachments: record.attachmentList)
        if let story = record.reply_to_story { secrets.insert(story) }

        // Earlier versions of it (before an edit) are only in the journal's copies.
        var candidates: [Int64: String] = [:]
        for id in ids {
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT seq, payload FROM events WHERE instr(payload, ?) > 0"),
                arguments: [JSONValue.quote(id)])
            {
                candidates[row["seq"]] = row["payload"]
            }
        }
        for payload in candidates.values {
            guard let data = try? JSONValue.parse(Data(payload.utf8)) else { continue }
            UnsendScrubber.collectVersions(of: ids, in: data, texts: &texts, secrets: &secrets)
        }
        texts = texts.filter { !$0.isEmpty }
        secrets.formUnion(texts)
        secrets.remove("")

        let preview = MessageKind.preview(text: record.text, attachments: record.attachmentList, kind: record.view().kind)
        record.text = nil
        record.attachments = nil
        record.reply_to_story = nil
        record.payload = nil
        record.edited = false
        record.deleted = true
        if record.status == .pending { record.status = .processed }  // nothing left to answer
        try record.update(db)

        // The thread's preview, when it showed this message.
        let shown = Set(secrets).union(preview.map { [$0] } ?? [])
        if let summary = try ThreadRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM threads WHERE id = ?"), arguments: [thread]),
           let last = summary.last_text, shown.contains(last)
        {
            try db.cachedStatement(sql: "UPDATE threads SET last_text = ? WHERE id = ?").execute(arguments: [unsentMessageLabel, thread])
        }

        // The journal: every row naming it, and every row of its thread that holds one of its strings.
        for secret in secrets {
            let escaped = String(JSONValue.quote(secret).dropFirst().dropLast())
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT seq, payload FROM events WHERE thread_id = ? AND instr(payload, ?) > 0"),
                arguments: [thread, escaped])
            {
                candidates[row["seq"]] = row["payload"]
            }
        }
        let scrubber = UnsendScrubber(ids: ids, secrets: secrets, erasedView: JSONValue(record.view()))
        for (seq, payload) in candidates {
            guard let data = try? JSONValue.parse(Data(payload.utf8)) else { continue }
            let scrubbed = scrubber.scrub(data)
            if scrubbed != data {
                try db.cachedStatement(sql: "UPDATE events SET payload = ? WHERE seq = ?").execute(arguments: [scrubbed.compactString, seq])
            }
        }
        // The agent's steps quote what it was asked about.
        for secret in secrets where secret.count >= UnsendScrubber.minimumQuotedLength {
            try db.cachedStatement(
                sql: """
                    UPDATE agent_steps SET arguments = replace(arguments, ?1, ?2), result = replace(result, ?1, ?2)
                    WHERE thread_id = ?3 AND (instr(arguments, ?1) > 0 OR instr(result, ?1) > 0)
                    """
            ).execute(arguments: [secret, unsentMessageLabel, thread])
        }

        outcome.unsent += 1
        let role: ContextTurn.Role = record.direction == .inbound ? .user : .assistant
        outcome.contextErasures += texts.sorted().map { ContextTurn(customer: thread, role: role, text: $0) }
        outcome.events.append(try journal(db, type: EventType.messageUpdated, thread: thread, data: JSONValue(record.view())))
        if let summary = try threadSummary(db, id: thread) {
            outcome.events.append(try journal(db, type: EventType.threadUpdated, thread: thread, data: JSONValue(summary)))
        }
    }

    /// What replies show of the messages they answer, by the answered `mid`: its text (or what it is), or that it
    /// was unsent. Mids dmdesk does not have are left out.
    static func quotes(of mids: [String], db: Database) throws -> [String: ReplyQuote] {
        var result: [String: ReplyQuote] = [:]
        for mid in Set(mids) {
            guard let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT text, attachments, kind, deleted FROM messages WHERE mid = ?1 OR remote_mid = ?1 LIMIT 1"),
                arguments: [mid])
            else { continue }
            let attachments = (row["attachments"] as String?).flatMap { try? JSONDecoder().decode([Attachment].self, from: Data($0.utf8)) } ?? []
            let kind = (row["kind"] as String?).flatMap(MessageKind.init(rawValue:))
            let deleted: Bool = row["deleted"]
            result[mid] = ReplyQuote(
                text: deleted ? nil : MessageKind.preview(text: row["text"], attachments: attachments, kind: kind), unsent: deleted)
        }
        return result
    }
}

/// Rewrites journal payloads so nothing of an unsent message is left in them.
struct UnsendScrubber {
    /// Shorter strings are replaced only where they are a whole value: inside longer text they would match words
    /// that are not the message's.
    static let minimumQuotedLength = 4

    let ids: Set<String>
    let secrets: Set<String>
    /// The message as it is now (erased): what every copy of it in the journal becomes.
    let erasedView: JSONValue

    func scrub(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let s):
            if secrets.contains(s) { return .string(unsentMessageLabel) }
            var out = s
            for secret in secrets where secret.count >= Self.minimumQuotedLength && out.contains(secret) {
                out = out.replacingOccurrences(of: secret, with: unsentMessageLabel)
            }
            return .string(out)
        case .array(let items):
            return .array(items.map(scrub))
        case .object(var members):
            if Self.isMessageView(members) {
                if names(members["id"]) || names(members["mid"]) { return erasedView }
                // Another message: its own text is its own; only its quote of this one goes.
                if names(members["replyToMid"]) {
                    members["replyToText"] = nil
                    members["replyToUnsent"] = .bool(true)
                }
                return .object(members)
            }
            if let raw = members["raw"], mentions(raw) { members["raw"] = ["erased": .string(unsentMessageLabel)] }
            return .object(members.mapValues(scrub))
        default:
            return value
        }
    }

    private func names(_ value: JSONValue?) -> Bool { value?.stringValue.map(ids.contains) ?? false }

    /// Whether a raw webhook copy is about the message (any id in it is one of its ids).
    private func mentions(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): return ids.contains(s)
        case .array(let items): return items.contains(where: mentions)
        case .object(let members): return members.values.contains(where: mentions)
        default: return false
        }
    }

    static func isMessageView(_ members: [String: JSONValue]) -> Bool {
        members["direction"] != nil && members["author"] != nil && members["thread"] != nil
    }

    /// Texts, links and titles the message had in any journaled version: its views, and raw webhook copies of
    /// it (an edit's raw body holds the new text).
    static func collectVersions(of ids: Set<String>, in data: JSONValue, texts: inout Set<String>, secrets: inout Set<String>) {
        func attachments(_ list: JSONValue?) {
            for a in list?.arrayValue ?? [] {
                secrets.formUnion([a["url"], a["title"], a["payload"]?["url"], a["payload"]?["title"]].compactMap { $0?.stringValue })
            }
        }
        if let members = data.objectValue, isMessageView(members), let id = members["id"]?.stringValue, ids.contains(id) {
            if let text = members["text"]?.stringValue { texts.insert(text) }
            if let story = members["replyToStory"]?.stringValue { secrets.insert(story) }
            attachments(members["attachments"])
        }
        if let raw = data["raw"] {
            for part in [raw["message"], raw["message_edit"]] {
                guard let part, let mid = part["mid"]?.idString, ids.contains(mid) else { continue }
                if let text = part["text"]?.stringValue { texts.insert(text) }
                if let story = part["reply_to"]?["story"]?["url"]?.stringValue { secrets.insert(story) }
                attachments(part["attachments"])
            }
        }
    }
}
