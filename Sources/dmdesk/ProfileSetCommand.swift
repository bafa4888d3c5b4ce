import ArgumentParser
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation

/// `dmdesk profile ice-breakers set FILE.toml`, `dmdesk profile menu set FILE.toml`: checks the file against Meta's
/// limits and the rules it names, then replaces the field with it.
struct ProfileSetCommand<Kind: ProfileFieldKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "set",
            abstract: "Replace the \(Kind.field.title) with the buttons in a TOML file.",
            discussion: """
                The file is checked before Meta is called: \(Kind.field == .iceBreakers ? "at most \(MessengerProfileLimits.maxQuestions) questions of \(MessengerProfileLimits.maxQuestionCharacters)" : "at most \(MessengerProfileLimits.maxMenuButtons) buttons with titles of \(MessengerProfileLimits.maxButtonTitleCharacters)") \
                characters, payloads of \(MessengerProfileLimits.maxPayloadCharacters), and every rule it names must exist and be active. For example:

                \(Kind.sample)
                """)
    }
    @OptionGroup var options: ProfileOptions
    @Argument(help: ArgumentHelp("The TOML file.", valueName: "FILE.toml")) var file: String

    func run() async throws {
        let config = options.load()
        let buttons: [ProfileButton]
        do { buttons = try ProfileFile.read(Kind.field, path: file) } catch { fail("\(error)", code: ScriptExit.usage) }
        await checkRules(buttons, config: config)
        let graph = options.graph(config)
        let value = ProfileFile.json(Kind.field, buttons)
        await options.calling("set the \(Kind.field.title)") { () async throws(GraphError) in
            try await graph.setMessengerProfile(Kind.field, to: value)
        }
        if options.json { return print(JSONValue.object([Kind.field.rawValue: value]).encodedString()) }
        print("set \(buttons.count) \(Kind.field.itemName)\(buttons.count == 1 ? "" : "s"):")
        for button in buttons {
            switch button.target {
            case .payload(let payload): print("  \"\(button.text)\" → \(payload.summary)")
            case .url(let url): print("  \"\(button.text)\" → \(url)")
            }
        }
    }

    /// Every `rule = ID` must name an active rule in this data directory's store (the one the daemon answers from).
    private func checkRules(_ buttons: [ProfileButton], config: DMDeskConfig) async {
        let named = buttons.compactMap { button -> (ProfileButton, Int64)? in
            if case .payload(.rule(let id)) = button.target { return (button, id) }
            return nil
        }
        guard !named.isEmpty else { return }
        let active: [Int64: RuleRecord]
        do {
            let store = try SQLiteStore(dataDir: config.dataDir)
            active = Dictionary(
                try await store.rules(includeInactive: false).compactMap { rule in rule.id.map { ($0, rule) } },
                uniquingKeysWith: { first, _ in first })
            try? await store.close()
        } catch {
            fail("cannot check the rules the file names in \(config.dataDir): \(error)")
        }
        for (button, id) in named where active[id] == nil {
            let error = ProfileFileError(
                file: file, line: button.line, field: "\(button.name) rule",
                problem: "there is no active rule \(id) (see `dmdesk rules list`)")
            fail("\(error)", code: ScriptExit.usage)
        }
    }
}
