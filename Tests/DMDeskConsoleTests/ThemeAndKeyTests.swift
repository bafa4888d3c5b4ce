@testable import DMDeskConsole
import Foundation
import Testing

private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let themesDirectory = repoRoot.appendingPathComponent("themes").path

@Suite struct ThemeTests {
    @Test(arguments: Theme.builtInNames)
    func shippedThemeLoads(name: String) throws {
        let theme = try Theme.load(nameOrPath: name, themesDirectory: themesDirectory)
        #expect(theme.name == name)
        #expect(theme.styles.count == UIRole.allCases.count)
        for role in UIRole.allCases {
            #expect(theme[role].fg8 < 8 && theme[role].bg8 < 8)
        }
    }

    @Test func builtInCopiesMatchTheFiles() throws {
        let defaultFile = try String(contentsOfFile: themesDirectory + "/default.toml", encoding: .utf8)
        let monoFile = try String(contentsOfFile: themesDirectory + "/mono.toml", encoding: .utf8)
        #expect(defaultFile.trimmingCharacters(in: .newlines) == BuiltinThemes.defaultTOML.trimmingCharacters(in: .newlines))
        #expect(monoFile.trimmingCharacters(in: .newlines) == BuiltinThemes.monoTOML.trimmingCharacters(in: .newlines))
        #expect(!Theme.fallbackMono.usesColour)
        #expect(Theme.fallbackDefault.usesColour)
    }

    @Test func builtInFallbackWorksFromAnywhere() throws {
        let theme = try Theme.load(nameOrPath: "default", themesDirectory: "/nonexistent", environment: [:])
        #expect(theme.name == "default")
    }

    @Test func noColorGivesMono() throws {
        let theme = try Theme.resolve(requested: "light", environment: ["NO_COLOR": "1"], themesDirectory: themesDirectory)
        #expect(theme.name == "mono")
        let chosen = try Theme.resolve(requested: nil, environment: ["DMDESK_THEME": "light", "NO_COLOR": ""], themesDirectory: themesDirectory)
        #expect(chosen.name == "light")
    }

    private func replacing(_ old: String, with new: String) throws -> String {
        let text = try String(contentsOfFile: themesDirectory + "/default.toml", encoding: .utf8)
        #expect(text.contains(old))
        return text.replacingOccurrences(of: old, with: new)
    }

    @Test func badColourNamesFileAndKey() throws {
        let text = try replacing("[customer]\nfg = 223", with: "[customer]\nfg = \"blurple\"")
        #expect(throws: ThemeError(file: "themes/bad.toml", location: "customer.fg", problem: "unknown colour 'blurple'")) {
            try Theme.parse(text, file: "themes/bad.toml")
        }
        do {
            _ = try Theme.parse(text, file: "themes/bad.toml")
        } catch {
            #expect(error.description == "themes/bad.toml: customer.fg: unknown colour 'blurple'")
        }
    }

    @Test func badAttributeAndRanges() throws {
        let badAttribute = try replacing("[operator]\nfg = 117\nbg = \"default\"\nfg8 = \"cyan\"\nbg8 = \"default\"\nattrs = [\"bold\"]",
                                         with: "[operator]\nfg = 117\nbg = \"default\"\nfg8 = \"cyan\"\nbg8 = \"default\"\nattrs = [\"blink\"]")
        #expect { try Theme.parse(badAttribute, file: "x.toml") } throws: { error in
            let e = error as! ThemeError
            return e.file == "x.toml" && e.location == "operator.attrs" && e.problem.contains("blink")
        }
        let outOfRange = try replacing("[bot]\nfg = 114", with: "[bot]\nfg = 300")
        #expect { try Theme.parse(outOfRange, file: "x.toml") } throws: { ($0 as! ThemeError).location == "bot.fg" }
        let bad8 = try replacing("fg8 = \"green\"", with: "fg8 = \"brightgreen\"")
        #expect { try Theme.parse(bad8, file: "x.toml") } throws: { ($0 as! ThemeError).location == "bot.fg8" }
        let missing = try replacing("[help]", with: "[helpp]")
        #expect { try Theme.parse(missing, file: "x.toml") } throws: { ($0 as! ThemeError).location == "[helpp]" }
        let syntax = try replacing("[bot]\nfg = 114", with: "[bot]\nfg 114")
        #expect { try Theme.parse(syntax, file: "x.toml") } throws: { ($0 as! ThemeError).description.hasPrefix("x.toml: line ") }
    }

    @Test func missingFile() {
        #expect { try Theme.load(nameOrPath: "/nonexistent/nope.toml") } throws: { error in
            (error as! ThemeError).description.hasPrefix("/nonexistent/nope.toml: ")
        }
        #expect { try Theme.load(nameOrPath: "nosuchtheme", themesDirectory: themesDirectory, environment: [:]) } throws: { error in
            (error as! ThemeError).description.contains("nosuchtheme.toml")
        }
    }
}

@Suite struct KeyTableTests {
    @Test func everyBindingHasADescriptionAndKeys() {
        for binding in KeyMap.standard.bindings {
            #expect(!binding.description.isEmpty)
            #expect(!binding.keys.isEmpty || binding.isAnyOtherKey)
        }
    }

    @Test func noDuplicateKeysInAContext() {
        #expect(KeyMap.standard.duplicateKeys().isEmpty)
    }

    @Test func specifiedDefaults() {
        let map = KeyMap.standard
        #expect(map.command(for: .char("j"), in: .inbox) == .moveDown)
        #expect(map.command(for: .down, in: .inbox) == .moveDown)
        #expect(map.command(for: .char("k"), in: .inbox) == .moveUp)
        #expect(map.command(for: .enter, in: .inbox) == .openThread)
        #expect(map.command(for: .tab, in: .inbox) == .switchPane)
        #expect(map.command(for: .char("r"), in: .inbox) == .compose)
        #expect(map.command(for: .char("i"), in: .inbox) == .compose)
        #expect(map.command(for: .char("t"), in: .inbox) == .takeOver)
        #expect(map.command(for: .char("a"), in: .inbox) == .handBack)
        #expect(map.command(for: .char("n"), in: .inbox) == .notifyManager)
        #expect(map.command(for: .char("e"), in: .inbox) == .react)
        #expect(map.command(for: .char("u"), in: .inbox) == .nextUnread)
        #expect(map.command(for: .char("/"), in: .inbox) == .filter)
        #expect(map.command(for: .char("x"), in: .inbox) == .resolve)
        #expect(map.command(for: .char("R"), in: .inbox) == .retryFailed)
        #expect(map.command(for: .pageUp, in: .inbox) == .pageUp)
        #expect(map.command(for: .pageDown, in: .inbox) == .pageDown)
        #expect(map.command(for: .char("g"), in: .inbox) == .top)
        #expect(map.command(for: .char("G"), in: .inbox) == .bottom)
        #expect(map.command(for: .char("?"), in: .inbox) == .help)
        #expect(map.command(for: .char("q"), in: .inbox) == .quit)
        #expect(map.command(for: .enter, in: .editor) == .send)
        #expect(map.command(for: .altEnter, in: .editor) == .newline)
        #expect(map.command(for: .escape, in: .editor) == .cancel)
        #expect(map.command(for: .ctrl("w"), in: .editor) == .deleteWord)
        #expect(map.command(for: .ctrl("u"), in: .editor) == .deleteToStart)
        #expect(map.command(for: .ctrl("a"), in: .editor) == .lineStart)
        #expect(map.command(for: .ctrl("e"), in: .editor) == .lineEnd)
        #expect(map.command(for: .char("q"), in: .editor) == nil)  // letters are text while typing
        #expect(map.command(for: .escape, in: .inbox) == .back)
        #expect(map.command(for: .char("1"), in: .reactionPicker) == .pickReaction)
        #expect(map.command(for: .char("6"), in: .reactionPicker) == .pickReaction)
        #expect(map.command(for: .char("7"), in: .reactionPicker) == .cancelReaction)
        #expect(map.command(for: .char("h"), in: .reactionPicker) == .pickHeart)
        #expect(map.command(for: .enter, in: .reactionPicker) == .pickHeart)
        #expect(map.command(for: .escape, in: .reactionPicker) == .cancelReaction)
        #expect(map.command(for: .char("j"), in: .help) == .helpLineDown)
        #expect(map.command(for: .down, in: .help) == .helpLineDown)
        #expect(map.command(for: .char("k"), in: .help) == .helpLineUp)
        #expect(map.command(for: .up, in: .help) == .helpLineUp)
        #expect(map.command(for: .char(" "), in: .help) == .helpPageDown)
        #expect(map.command(for: .pageDown, in: .help) == .helpPageDown)
        #expect(map.command(for: .pageUp, in: .help) == .helpPageUp)
        #expect(map.command(for: .char("?"), in: .help) == .closeHelp)
        #expect(map.command(for: .char("y"), in: .confirmQuit) == .quitAnyway)
        #expect(map.command(for: .char("Y"), in: .confirmQuit) == .quitAnyway)
        #expect(map.command(for: .char("n"), in: .confirmQuit) == .keepDraft)
        #expect(map.command(for: .escape, in: .confirmQuit) == .keepDraft)
    }

    @Test func helpIsGeneratedFromTheTable() {
        let help = KeyMap.standard.helpLines()
        for binding in KeyMap.standard.bindings {
            #expect(help.contains { $0.contains(binding.description) && $0.contains(binding.keysLabel) })
        }
        for context in KeyContext.allCases { #expect(help.contains(context.title)) }
        #expect(help.contains { $0.contains("any other key") && $0.contains("close the help") })
    }

    @Test func keyDecoding() {
        let keys = Screen.decode([(false, 27), (false, 13), (false, 27), (false, 0x6A), (false, 23), (false, 127), (false, 0x1F600)])
        #expect(keys == [.altEnter, .escape, .char("j"), .ctrl("w"), .backspace, .char("😀")])
    }
}
