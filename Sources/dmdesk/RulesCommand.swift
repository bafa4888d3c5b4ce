import ArgumentParser
import DMDeskCore
import DMDeskStore
import Foundation

/// `dmdesk rules list|add|remove|test|seed`: the bot's keyword rules, edited straight in the SQLite database of
/// the data directory (the daemon picks changes up with its next batch; no restart needed).
extension RuleScope: ExpressibleByArgument {}

struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "List, add, remove and try the bot's keyword rules.",
        discussion: """
            Rules are matched case-insensitively against each message of a batch, in priority order (lower number \
            first); the first match wins. Match kinds: contains (substring), word (whole words), regex. \
            Actions: reply, handover (switch the thread to a person, notify the manager), both. \
            A rule added with `--on comments` answers comments under your posts instead, with one private reply \
            (a DM to the commenter) per comment.
            """,
        subcommands: [List.self, Add.self, Remove.self, Test.self, Seed.self],
        defaultSubcommand: List.self)

    /// The store of the configured data directory (the SQLite engine: the same file a running daemon uses).
    static func openStore(_ global: GlobalOptions) -> (any InboxStore, DMDeskConfig) {
        let config: DMDeskConfig
        do { config = try global.load() } catch { fail("\(error)") }
        do { return (try SQLiteStore(dataDir: config.dataDir), config) } catch { fail("\(error)") }
    }

    static func json(_ rule: RuleRecord) -> JSONValue {
        [
            "id": .number(Double(rule.id ?? 0)), "pattern": .string(rule.pattern), "match": .string(rule.match_kind.rawValue),
            "reply": rule.reply.map { .string($0) } ?? .null, "priority": .number(Double(rule.priority)),
            "active": .bool(rule.active), "action": .string(rule.action.rawValue),
            "on": .string((rule.scope ?? .messages).rawValue),
        ]
    }

    static func line(_ rule: RuleRecord) -> String {
        let id = String(rule.id ?? 0).padding(toLength: 4, withPad: " ", startingAt: 0)
        let prio = String(rule.priority).padding(toLength: 5, withPad: " ", startingAt: 0)
        let kind = rule.match_kind.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        let action = rule.action.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        let state = (rule.active ? "" : " (inactive)") + (rule.scope == .comments ? " (on comments)" : "")
        var text = "\(id) \(prio) \(kind) \(action) \(rule.pattern)\(state)"
        if let reply = rule.reply, !reply.isEmpty { text += "\n" + String(repeating: " ", count: 28) + "→ " + reply }
        return text
    }

    static func printJSON(_ value: JSONValue) {
        print(value.encodedString())
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every rule in priority order.")
        @OptionGroup var global: GlobalOptions
        @Flag(name: .long, help: "Machine-readable output.") var json = false

        func run() async throws {
            let (store, _) = RulesCommand.openStore(global)
            let rules = try await store.rules()
            if json {
                RulesCommand.printJSON(.array(rules.map(RulesCommand.json)))
                return
            }
            if rules.isEmpty {
                print("no rules yet — add one with `dmdesk rules add`, or a shop starter set with `dmdesk rules seed`")
                return
            }
            print("id   prio  match    action   pattern")
            for rule in rules { print(RulesCommand.line(rule)) }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a rule.",
            discussion: """
                Examples:
                  dmdesk rules add "opening hours" --reply "We're open 9–18, Monday to Friday."
                  dmdesk rules add refund --match word --action both --reply "A colleague will help you with that."
                  dmdesk rules add '(talk|speak) to (a )?human' --match regex --action handover --priority 10
                  dmdesk rules add --on comments price "Hi! We sent you the price in a DM."
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The keyword, words or regular expression.") var pattern: String
        @Argument(help: "What the bot answers (the same as --reply).") var replyText: String?
        @Option(name: .long, help: "What the bot answers (needed for action reply or both).") var reply: String?
        @Option(name: .long, help: "What the rule answers: messages (DMs, the default) or comments (with a private reply).")
        var on: RuleScope = .messages
        @Option(name: .long, help: "contains, word or regex.") var match: String = "contains"
        @Option(name: .long, help: "reply, handover or both.") var action: String = "reply"
        @Option(name: .long, help: "Lower numbers are tried first.") var priority: Int = 100
        @Flag(name: .long, help: "Store the rule switched off.") var inactive = false
        @Flag(name: .long, help: "Machine-readable output.") var json = false

        func validate() throws {
            guard RuleMatchKind(rawValue: match) != nil else { throw ValidationError("--match must be contains, word or regex") }
            guard RuleAction(rawValue: action) != nil else { throw ValidationError("--action must be reply, handover or both") }
            if reply != nil && replyText != nil { throw ValidationError("give the reply once: as an argument or with --reply") }
            if on == .comments && action != "reply" {
                throw ValidationError("a rule on comments answers with a private reply: --action must be reply")
            }
        }

        func run() async throws {
            let (store, _) = RulesCommand.openStore(global)
            let rule: RuleRecord
            do {
                // `validate()` checked both names.
                rule = try await store.addRule(
                    RuleRecord(
                        pattern: pattern, matchKind: RuleMatchKind(rawValue: match)!, reply: reply ?? replyText,
                        priority: priority, active: !inactive, action: RuleAction(rawValue: action)!, scope: on))
            } catch let error as RuleError {
                fail(error.message)
            }
            if json { RulesCommand.printJSON(RulesCommand.json(rule)) } else { print("added rule \(rule.id ?? 0)") }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a rule by id.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The rule's id (see `dmdesk rules list`).") var id: Int64

        func run() async throws {
            let (store, _) = RulesCommand.openStore(global)
            guard try await store.removeRule(id: id) else { fail("no rule with id \(id)") }
            print("removed rule \(id)")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show which rule a message would match and what the bot would say.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A customer message.") var text: String
        @Flag(name: .long, help: "Machine-readable output.") var json = false

        func run() async throws {
            let (store, config) = RulesCommand.openStore(global)
            let set = RuleSet(try await store.rules(includeInactive: false).filter { $0.scope == nil })
            let match = set.firstMatch(text)
            var outcome: [String: JSONValue] = ["text": .string(text)]
            var lines: [String] = []
            for broken in set.broken { lines.append("warning: rule \(broken.id) is skipped: \(broken.reason)") }
            if let match {
                outcome["rule"] = RulesCommand.json(match.record)
                lines.append("matches rule \(match.record.id ?? 0) (\(match.record.match_kind.rawValue) \"\(match.record.pattern)\", priority \(match.record.priority))")
                if match.action.replies, let reply = match.record.reply, !reply.isEmpty {
                    lines.append("bot replies: \(reply)")
                }
                if match.action.handsOver {
                    outcome["handover"] = true
                    lines.append("hands over: the thread goes to a person, the manager is notified, the customer gets: \(config.handoverText)")
                }
                outcome["reply"] = match.action.replies ? (match.record.reply.map { .string($0) } ?? .null) : .string(config.handoverText)
            } else {
                outcome["rule"] = .null
                outcome["reply"] = .string(config.fallbackReply)
                lines.append("no rule matches; fallback reply: \(config.fallbackReply)")
            }
            if json { RulesCommand.printJSON(.object(outcome)) } else { lines.forEach { print($0) } }
        }
    }

    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a starter set for a shop: order status, shipping, prices, opening hours, talk to a human.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (store, _) = RulesCommand.openStore(global)
            let added = try await store.seedRules()
            if added.isEmpty {
                print("the starter rules are already there")
            } else {
                print("added \(added.count) rules:")
                for rule in added { print(RulesCommand.line(rule)) }
            }
        }
    }
}
