import ArgumentParser
import DMDeskCore
import DMDeskGraph
import Foundation

/// `dmdesk profile show`: the ice breakers and the persistent menu as Meta has them, and what each button does.
struct ProfileShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show the account's ice breakers and persistent menu as Meta has them.")
    @OptionGroup var options: ProfileOptions

    func run() async throws {
        let config = options.load()
        let graph = options.graph(config)
        let profile = await options.calling("read the messenger profile") { () async throws(GraphError) in
            try await graph.messengerProfile(fields: MessengerProfileField.allCases)
        }
        if options.json { return print(profile.encodedString()) }
        for field in MessengerProfileField.allCases {
            let locales = profile[field.rawValue]?.arrayValue ?? []
            guard !locales.isEmpty else {
                print("\(field.title): none")
                continue
            }
            print("\(field.title):")
            for locale in locales {
                print("  locale \(locale["locale"]?.stringValue ?? "?")")
                for action in locale["call_to_actions"]?.arrayValue ?? [] { print("    " + Self.line(action)) }
            }
        }
    }

    /// `"Where is my order?" → rule 3`, `"Shop" → https://…`.
    static func line(_ action: JSONValue) -> String {
        let label = action["question"]?.stringValue ?? action["title"]?.stringValue ?? "?"
        if let url = action["url"]?.stringValue { return "\"\(label)\" → \(url)" }
        let target = action["payload"]?.stringValue.map { ButtonPayload($0).summary } ?? "?"
        return "\"\(label)\" → \(target)"
    }
}
