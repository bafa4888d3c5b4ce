import DMDeskCore
import Foundation
import GRDB
import Synchronization

/// How a rule's pattern is compared with a message (always case-insensitive).
public enum RuleMatchKind: String, Sendable, CaseIterable, Codable {
    /// The pattern appears anywhere in the text.
    case contains
    /// The pattern appears as whole words: "hi" matches "Hi there" but not "this".
    case word
    /// An ICU regular expression (NSRegularExpression), searched anywhere in the text.
    case regex
}

/// What a rule answers: direct messages (the default) or comments under posts, with a private reply.
public enum RuleScope: String, Sendable, CaseIterable, Codable {
    case messages, comments
}

/// What a matching rule does.
public enum RuleAction: String, Sendable, CaseIterable, Codable {
    case reply, handover, both

    public var handsOver: Bool { self != .reply }
    public var replies: Bool { self != .handover }
}

public struct RuleError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One rule ready to match: its pattern compiled once.
public struct CompiledRule: Sendable {
    public let record: RuleRecord
    public let kind: RuleMatchKind
    public let action: RuleAction
    private let lowered: String
    private let regex: NSRegularExpression?

    public init(_ record: RuleRecord) throws(RuleError) {
        self.record = record
        let kind = record.match_kind
        self.kind = kind
        self.action = record.action
        let pattern = record.pattern.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !pattern.isEmpty else { throw RuleError("the pattern is empty") }
        lowered = pattern.lowercased()
        switch kind {
        case .contains:
            regex = nil
        case .word:
            // Whole words: not preceded or followed by a letter, digit or underscore (Unicode-aware).
            let escaped = NSRegularExpression.escapedPattern(for: pattern)
                .replacingOccurrences(of: " ", with: "\\s+")
            regex = try Self.compile("(?<![\\p{L}\\p{N}_])" + escaped + "(?![\\p{L}\\p{N}_])")
        case .regex:
            regex = try Self.compile(pattern)
        }
    }

    static func compile(_ pattern: String) throws(RuleError) -> NSRegularExpression {
        do {
            return try NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
        } catch {
            throw RuleError("not a valid regular expression: \(pattern)")
        }
    }

    public func matches(_ text: String) -> Bool {
        switch kind {
        case .contains:
            return text.lowercased().contains(lowered)
        case .word, .regex:
            guard let regex else { return false }
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            return regex.firstMatch(in: text, options: [], range: range) != nil
        }
    }
}

/// The active rules in priority order (lower number first, then oldest first): the first match wins.
public struct RuleSet: Sendable {
    public let rules: [CompiledRule]
    /// Rules that could not be compiled (a bad regex written straight into the database): skipped, with why.
    public let broken: [(id: Int64, reason: String)]

    public init(_ records: [RuleRecord]) {
        var rules: [CompiledRule] = []
        var broken: [(Int64, String)] = []
        for record in records where record.active {
            do { rules.append(try CompiledRule(record)) } catch { broken.append((record.id ?? 0, error.message)) }
        }
        self.rules = rules.sorted { a, b in
            a.record.priority != b.record.priority ? a.record.priority < b.record.priority : (a.record.id ?? 0) < (b.record.id ?? 0)
        }
        self.broken = broken
    }

    /// The first rule (by priority) that matches any of `texts`.
    public func firstMatch(_ texts: [String]) -> CompiledRule? {
        let texts = texts.filter { !$0.isEmpty }
        guard !texts.isEmpty else { return nil }
        return rules.first { rule in texts.contains(where: rule.matches) }
    }

    public func firstMatch(_ text: String) -> CompiledRule? { firstMatch([text]) }

    /// The active rule with this id (a button's payload names one).
    public func rule(id: Int64) -> CompiledRule? { rules.first { $0.record.id == id } }
}

/// A starter set for a shop, added by `dmdesk rules seed`.
public enum StarterRules {
    public static let shop: [RuleRecord] = [
        RuleRecord(
            pattern: "(talk|speak|chat)\\s+(to|with)\\s+(a\\s+)?(human|person|someone|agent|real person)|\\bhuman\\b|\\bagent\\b",
            matchKind: .regex, reply: nil, priority: 10, action: .handover),
        RuleRecord(
            pattern: "(where('?s| is)|status|track(ing)?).{0,30}\\border\\b|\\border\\b.{0,30}(status|track|arrive|where)",
            matchKind: .regex,
            reply: "You can check your order any time with the link in your confirmation e-mail. Send us your order number and we'll look it up for you.",
            priority: 50, action: .reply),
        RuleRecord(
            pattern: "shipping|delivery|deliver|ship to|postage", matchKind: .regex,
            reply: "We ship within 1–2 business days. Standard delivery takes 3–5 days; orders over $50 ship free.",
            priority: 60, action: .reply),
        RuleRecord(
            pattern: "price|prices|cost|how much", matchKind: .regex,
            reply: "Prices are on each product page in our shop. Tell us which item you mean and we'll send you the details.",
            priority: 70, action: .reply),
        RuleRecord(
            pattern: "open(ing)? hours|opening times|when (are|do) you open|are you open|business hours",
            matchKind: .regex,
            reply: "We're open Monday to Friday 9:00–18:00 and Saturday 10:00–16:00. Messages sent outside those hours are answered the next working day.",
            priority: 80, action: .reply),
    ]
}

extension SQLiteStore {
    public func rules(includeInactive: Bool) async throws -> [RuleRecord] {
        try await read { db in
            try RuleRecord.fetchAll(
                db,
                sql: "SELECT * FROM response_rules \(includeInactive ? "" : "WHERE active = 1") ORDER BY priority, id")
        }
    }

    static func activeRules(_ db: Database) throws -> [RuleRecord] {
        try RuleRecord.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM response_rules WHERE active = 1 AND scope IS NULL ORDER BY priority, id"))
    }

    public func addRule(_ rule: RuleRecord) async throws -> RuleRecord {
        _ = try CompiledRule(rule)
        if rule.action.replies, (rule.reply ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw RuleError("a rule with action '\(rule.action.rawValue)' needs a reply text")
        }
        return try await write(.other) { db in
            var rule = rule
            try rule.insert(db)
            return rule
        }
    }

    public func removeRule(id: Int64) async throws -> Bool {
        try await write(.other) { db in try RuleRecord.deleteOne(db, key: id) }
    }

    public func seedRules() async throws -> [RuleRecord] {
        try await write(.other) { db in
            var added: [RuleRecord] = []
            for var rule in StarterRules.shop {
                let exists = try Bool.fetchOne(
                    db, sql: "SELECT EXISTS(SELECT 1 FROM response_rules WHERE pattern = ? AND match_kind = ? AND scope IS NULL)",
                    arguments: [rule.pattern, rule.match_kind]) ?? false
                if exists { continue }
                try rule.insert(db)
                added.append(rule)
            }
            return added
        }
    }
}

/// Compiles the active rules once and recompiles only when a rule changed (the rows are re-read per use, which is cheap;
/// compiling regular expressions is not). The CLI edits the database directly, so there is no notification to wait for.
final class RuleCache: Sendable {
    private struct Entry {
        var records: [RuleRecord]
        var set: RuleSet
    }
    private let entry = Mutex<Entry?>(nil)

    init() {}

    /// The current rule set; call inside a transaction so the rules are those of that snapshot.
    func current(_ db: Database) throws -> RuleSet {
        let records = try SQLiteStore.activeRules(db)
        if let cached = entry.withLock({ $0 }), cached.records == records { return cached.set }
        let set = RuleSet(records)
        entry.withLock { $0 = Entry(records: records, set: set) }
        return set
    }
}
