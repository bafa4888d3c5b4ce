import Foundation
import TOMLKit

/// The fields of the account's messenger profile that dmdesk manages.
public enum MessengerProfileField: String, Sendable, CaseIterable {
    case iceBreakers = "ice_breakers"
    case persistentMenu = "persistent_menu"

    /// How people name it: in the command line and in messages.
    public var title: String { self == .iceBreakers ? "ice breakers" : "persistent menu" }
    /// One of its buttons, for people.
    public var itemName: String { self == .iceBreakers ? "ice breaker" : "menu button" }
}

/// Meta's limits for ice breakers and the persistent menu; the command line checks them before calling Meta, and
/// the Graph API stand-in refuses what Meta refuses.
public enum MessengerProfileLimits {
    /// "A maximum of 4 questions can be set via the Ice Breaker API."
    public static let maxQuestions = 4
    public static let maxQuestionCharacters = 80
    public static let maxMenuButtons = 20
    public static let maxButtonTitleCharacters = 30
    /// A postback's payload, as for every button.
    public static let maxPayloadCharacters = 1000
    /// The one locale dmdesk sets; Meta requires a `default` one.
    public static let locale = "default"
}

/// What a button (an ice breaker, a menu entry, a quick reply) does when tapped: the payload Meta sends back in the
/// postback, and how the responder reads it.
public enum ButtonPayload: Equatable, Sendable {
    /// A person is asked for: the thread is handed over, exactly as a handover rule does.
    case takeover
    /// The reply of this keyword rule (its id, as `dmdesk rules list` shows it).
    case rule(Int64)
    /// Any other payload: matched against the keyword rules like a message's text.
    case other(String)

    /// Meta's own name for asking for a person, which dmdesk has always honoured.
    public static let takeoverPayload = "HUMAN_AGENT"
    static let rulePrefix = "DMDESK_RULE:"

    public init(_ payload: String) {
        if payload == Self.takeoverPayload {
            self = .takeover
        } else if payload.hasPrefix(Self.rulePrefix), let id = Int64(payload.dropFirst(Self.rulePrefix.count)), id > 0 {
            self = .rule(id)
        } else {
            self = .other(payload)
        }
    }

    public var payload: String {
        switch self {
        case .takeover: return Self.takeoverPayload
        case .rule(let id): return Self.rulePrefix + String(id)
        case .other(let text): return text
        }
    }

    /// For people: "rule 3", "take over", or the payload itself.
    public var summary: String {
        switch self {
        case .takeover: return "take over"
        case .rule(let id): return "rule \(id)"
        case .other(let text): return "payload \"\(text)\""
        }
    }
}

/// A profile file that cannot be used: where (`file:line`, the entry and field) and why.
public struct ProfileFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var field: String?
    public var problem: String

    public init(file: String, line: Int? = nil, field: String? = nil, problem: String) {
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let field { place += ": \(field)" }
        return "\(place): \(problem)"
    }
}

/// One button read from a profile file, before it becomes Meta's JSON.
public struct ProfileButton: Equatable, Sendable {
    public enum Target: Equatable, Sendable {
        case payload(ButtonPayload)
        case url(String)
    }
    /// The question (ice breakers) or the title (menu).
    public var text: String
    public var target: Target
    /// The line of its `[[question]]` / `[[button]]` header, when it has one.
    public var line: Int?
    /// "question 2", "button 1": how errors name it.
    public var name: String
}

/// Reads `dmdesk profile ice-breakers set FILE.toml` and `dmdesk profile menu set FILE.toml`:
///
/// ```toml
/// [[question]]                     # ice breakers: [[question]] with `text`; the menu: [[button]] with `title`
/// text = "Where is my order?"
/// rule = 3                         # the reply of keyword rule 3
///
/// [[question]]
/// text = "Can I talk to a person?"
/// takeover = true                  # a person is asked for
/// ```
/// A menu button may instead have `url = "https://…"` (a link); any button may carry a raw `payload = "…"`.
/// Exactly one of `rule`, `takeover`, `payload` (and for menu buttons `url`) per entry.
public enum ProfileFile {
    public static func read(_ field: MessengerProfileField, path: String) throws(ProfileFileError) -> [ProfileButton] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ProfileFileError(file: path, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(field, text: text, file: path)
    }

    public static func parse(_ field: MessengerProfileField, text: String, file: String) throws(ProfileFileError) -> [ProfileButton] {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ProfileFileError(file: file, line: error.source.begin.line, problem: error.description)
        } catch {
            throw ProfileFileError(file: file, problem: "\(error)")
        }
        let entryKey = field == .iceBreakers ? "question" : "button"
        let textKey = field == .iceBreakers ? "text" : "title"
        for key in table.keys where key != entryKey {
            throw ProfileFileError(
                file: file, field: key, problem: "unknown key; the file holds [[\(entryKey)]] entries only")
        }
        guard let entries = table[entryKey]?.array else {
            if table[entryKey] != nil {
                throw ProfileFileError(file: file, field: entryKey, problem: "must be a list of tables: [[\(entryKey)]]")
            }
            throw ProfileFileError(file: file, problem: "no [[\(entryKey)]] entries (to remove the \(field.title), use `clear`)")
        }
        let headers = headerLines(of: entryKey, in: text)
        var buttons: [ProfileButton] = []
        for (index, item) in entries.enumerated() {
            let name = "\(entryKey) \(index + 1)"
            let line = index < headers.count ? headers[index] : nil
            func problem(_ key: String?, _ why: String) -> ProfileFileError {
                ProfileFileError(file: file, line: line, field: key.map { "\(name) \($0)" } ?? name, problem: why)
            }
            guard let entry = item.table else { throw problem(nil, "must be a table ([[\(entryKey)]])") }
            let known: Set<String> = field == .iceBreakers
                ? [textKey, "rule", "takeover", "payload"] : [textKey, "rule", "takeover", "payload", "url"]
            for key in entry.keys where !known.contains(key) {
                throw problem(key, "unknown key; use \(known.sorted().joined(separator: ", "))")
            }
            guard let value = entry[textKey] else { throw problem(textKey, "is missing") }
            guard let label = value.string?.trimmingCharacters(in: .whitespacesAndNewlines) else {
                throw problem(textKey, "must be a string")
            }
            if label.isEmpty { throw problem(textKey, "is empty") }
            let limit = field == .iceBreakers ? MessengerProfileLimits.maxQuestionCharacters : MessengerProfileLimits.maxButtonTitleCharacters
            if label.count > limit { throw problem(textKey, "is \(label.count) characters; Meta allows \(limit)") }

            let targets = ["rule", "takeover", "payload", "url"].filter { entry[$0] != nil }
            guard targets.count == 1, let target = targets.first else {
                let choices = field == .iceBreakers ? "rule, takeover or payload" : "rule, takeover, payload or url"
                throw problem(nil, targets.isEmpty ? "needs one of \(choices)" : "has \(targets.joined(separator: " and ")); give only one of \(choices)")
            }
            let resolved: ProfileButton.Target
            switch target {
            case "rule":
                guard let id = entry["rule"]?.int, id > 0 else {
                    throw problem("rule", "must be a rule id, a whole number above 0 (see `dmdesk rules list`)")
                }
                resolved = .payload(.rule(Int64(id)))
            case "takeover":
                guard let on = entry["takeover"]?.bool else { throw problem("takeover", "must be true") }
                guard on else { throw problem("takeover", "must be true (leave it out otherwise)") }
                resolved = .payload(.takeover)
            case "payload":
                guard let payload = entry["payload"]?.string, !payload.isEmpty else {
                    throw problem("payload", "must be a non-empty string")
                }
                if payload.count > MessengerProfileLimits.maxPayloadCharacters {
                    throw problem("payload", "is \(payload.count) characters; Meta allows \(MessengerProfileLimits.maxPayloadCharacters)")
                }
                resolved = .payload(ButtonPayload(payload))
            default:
                guard let url = entry["url"]?.string, let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
                    ["http", "https"].contains(scheme), parsed.host != nil
                else { throw problem("url", "must be an http(s) URL") }
                resolved = .url(url)
            }
            buttons.append(ProfileButton(text: label, target: resolved, line: line, name: name))
        }
        let most = field == .iceBreakers ? MessengerProfileLimits.maxQuestions : MessengerProfileLimits.maxMenuButtons
        if buttons.count > most {
            throw ProfileFileError(
                file: file, line: buttons[most].line, field: buttons[most].name,
                problem: "\(buttons.count) \(entryKey)s; Meta allows \(most)")
        }
        return buttons
    }

    /// Meta's JSON for the field: one `default` locale holding the buttons.
    public static func json(_ field: MessengerProfileField, _ buttons: [ProfileButton]) -> JSONValue {
        let actions: [JSONValue] = buttons.map { button in
            switch (field, button.target) {
            case (.iceBreakers, .payload(let payload)):
                return ["question": .string(button.text), "payload": .string(payload.payload)]
            case (.iceBreakers, .url(let url)):
                // The parser never lets a url into an ice breaker; kept total all the same.
                return ["question": .string(button.text), "payload": .string(url)]
            case (.persistentMenu, .payload(let payload)):
                return ["type": "postback", "title": .string(button.text), "payload": .string(payload.payload)]
            case (.persistentMenu, .url(let url)):
                return ["type": "web_url", "title": .string(button.text), "url": .string(url)]
            }
        }
        return [["locale": .string(MessengerProfileLimits.locale), "call_to_actions": .array(actions)]]
    }

    /// The line of each `[[key]]` header, in order: TOMLKit keeps no positions for values, so errors find them here.
    static func headerLines(of key: String, in text: String) -> [Int] {
        var lines: [Int] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let compact = trimmed.filter { !$0.isWhitespace }
            if compact == "[[\(key)]]" { lines.append(number + 1) }
        }
        return lines
    }
}
