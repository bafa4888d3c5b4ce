import Foundation
import TOMLKit

/// Every styled element of the console. The raw value is the theme file's section name.
public enum UIRole: String, CaseIterable, Sendable {
    case list, selection, unread, muted
    case customer, bot, `operator`, system
    case error, statusbar, compose
    case badgeBot = "badge_bot"
    case badgeHuman = "badge_human"
    case border, title, help
    /// Optional in theme files: when a section is missing, the style is derived from the others
    /// (see `derivation`), so themes written before these roles existed keep loading.
    case helpKey = "help_key"
    case helpHeading = "help_heading"
    case statusGood = "status_good"
    case statusBad = "status_bad"
    case hintKey = "hint_key"
    /// What finding in a conversation (`/`) matched.
    case match

    /// For an optional role: take fg from one role and bg from another, plus attributes. When the fg
    /// role has a background of its own (e.g. white on red for errors) its fg and bg are kept together.
    var derivation: (fg: UIRole, bg: UIRole, attributes: Set<TextAttribute>)? {
        switch self {
        case .helpKey: return (.operator, .help, [.bold])
        case .helpHeading: return (.unread, .help, [.bold, .underline])
        case .statusGood: return (.bot, .statusbar, [])
        case .statusBad: return (.error, .statusbar, [.bold])
        case .hintKey: return (.operator, .muted, [.bold])
        case .match: return (.unread, .list, [.reverse, .bold])
        default: return nil
        }
    }
}

public enum TextAttribute: String, CaseIterable, Sendable {
    case bold, underline, reverse, dim, italic, standout
}

/// A colour: -1 is the terminal's default, 0...255 an xterm palette index.
public typealias ColourIndex = Int

public struct RoleStyle: Equatable, Sendable {
    public var fg: ColourIndex
    public var bg: ColourIndex
    /// Used when the terminal has fewer than 256 colours: -1 or 0...7.
    public var fg8: ColourIndex
    public var bg8: ColourIndex
    public var attributes: Set<TextAttribute>

    public init(fg: ColourIndex = -1, bg: ColourIndex = -1, fg8: ColourIndex = -1, bg8: ColourIndex = -1,
                attributes: Set<TextAttribute> = [])
    {
        self.fg = fg
        self.bg = bg
        self.fg8 = fg8
        self.bg8 = bg8
        self.attributes = attributes
    }
}

public struct ThemeError: Error, Equatable, CustomStringConvertible {
    public var file: String
    /// "section.key", or a line number when the file itself could not be read as TOML.
    public var location: String?
    public var problem: String

    public init(file: String, location: String? = nil, problem: String) {
        self.file = file
        self.location = location
        self.problem = problem
    }

    /// e.g. "themes/bad.toml: customer.fg: unknown colour 'blurple'"
    public var description: String {
        if let location { return "\(file): \(location): \(problem)" }
        return "\(file): \(problem)"
    }
}

/// Colours and attributes for every `UIRole`, loaded from `themes/*.toml`.
public struct Theme: Equatable, Sendable {
    public var name: String
    public var styles: [UIRole: RoleStyle]

    public init(name: String, styles: [UIRole: RoleStyle]) {
        self.name = name
        self.styles = styles
    }

    public subscript(role: UIRole) -> RoleStyle { styles[role] ?? RoleStyle() }

    /// True when some role asks for a colour; mono themes never start curses colour.
    public var usesColour: Bool {
        styles.values.contains { $0.fg >= 0 || $0.bg >= 0 || $0.fg8 >= 0 || $0.bg8 >= 0 }
    }

    public static let builtInNames = ["default", "light", "solarized-dark", "high-contrast", "mono"]

    /// The compiled-in default theme (always available, whatever the working directory).
    public static var fallbackDefault: Theme { try! parse(BuiltinThemes.defaultTOML, file: "<built-in default>") }
    public static var fallbackMono: Theme { try! parse(BuiltinThemes.monoTOML, file: "<built-in mono>") }

    /// Picks the theme the user asked for: `NO_COLOR` (any non-empty value) wins and gives mono; then
    /// `requested` (`--theme`), then `DMDESK_THEME`, then "default".
    public static func resolve(requested: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               themesDirectory: String? = nil) throws(ThemeError) -> Theme
    {
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty {
            return try load(nameOrPath: "mono", themesDirectory: themesDirectory, environment: environment)
        }
        let name = requested ?? environment["DMDESK_THEME"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        return try load(nameOrPath: name, themesDirectory: themesDirectory, environment: environment)
    }

    /// A name ("light") is looked up in the themes directories; anything with a "/" or ending in ".toml"
    /// is a path. Search order: `themesDirectory`, `$DMDESK_THEMES_DIR`, `<executable dir>/../share/dmdesk/themes`,
    /// `./themes`, then the built-in default and mono.
    public static func load(nameOrPath: String, themesDirectory: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(ThemeError) -> Theme
    {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".toml") {
            return try load(file: nameOrPath)
        }
        guard nameOrPath.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ThemeError(file: nameOrPath, problem: "not a theme name or a path to a .toml file")
        }
        let directories = searchDirectories(themesDirectory: themesDirectory, environment: environment)
        for directory in directories {
            let candidate = (directory as NSString).appendingPathComponent(nameOrPath + ".toml")
            if FileManager.default.fileExists(atPath: candidate) { return try load(file: candidate) }
        }
        switch nameOrPath {
        case "default": return fallbackDefault
        case "mono": return fallbackMono
        default:
            throw ThemeError(file: nameOrPath + ".toml",
                             problem: "no such theme (looked in \(directories.joined(separator: ", ")))")
        }
    }

    public static func searchDirectories(themesDirectory: String?, environment: [String: String]) -> [String] {
        var directories: [String] = []
        if let themesDirectory { directories.append(themesDirectory) }
        if let env = environment["DMDESK_THEMES_DIR"], !env.isEmpty { directories.append(env) }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        let executableDirectory = executable.deletingLastPathComponent()
        directories.append(executableDirectory.appendingPathComponent("../share/dmdesk/themes").standardized.path)
        directories.append("themes")
        return directories
    }

    public static func load(file: String) throws(ThemeError) -> Theme {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ThemeError(file: file, problem: "cannot read the file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ThemeError(file: file, problem: "not UTF-8 text")
        }
        return try parse(text, file: file)
    }

    /// Parses a theme. Every role must be present; unknown sections or keys are errors (they are
    /// almost always typos, and silently ignoring them would leave the user guessing).
    public static func parse(_ text: String, file: String) throws(ThemeError) -> Theme {
        let document: ThemeTOML.Document
        do {
            document = try ThemeTOML.parse(text)
        } catch {
            throw ThemeError(file: file, location: "line \(error.line)", problem: error.problem)
        }
        var name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        for (key, value) in document.root {
            switch (key, value) {
            case ("name", .string(let s)): name = s
            case ("description", .string): break
            default: throw ThemeError(file: file, location: key, problem: "unknown top-level key")
            }
        }
        for section in document.sections.keys where UIRole(rawValue: section) == nil {
            let known = UIRole.allCases.map(\.rawValue).joined(separator: ", ")
            throw ThemeError(file: file, location: "[\(section)]", problem: "unknown role (known: \(known))")
        }
        var styles: [UIRole: RoleStyle] = [:]
        for role in UIRole.allCases where role.derivation == nil {
            guard let table = document.sections[role.rawValue] else {
                throw ThemeError(file: file, location: "[\(role.rawValue)]", problem: "missing section")
            }
            styles[role] = try parseStyle(table, role: role.rawValue, file: file)
        }
        for role in UIRole.allCases {
            guard let derivation = role.derivation else { continue }
            if let table = document.sections[role.rawValue] {
                styles[role] = try parseStyle(table, role: role.rawValue, file: file)
                continue
            }
            let source = styles[derivation.fg] ?? RoleStyle()
            let ground = styles[derivation.bg] ?? RoleStyle()
            var style = RoleStyle(fg: source.fg, bg: ground.bg, fg8: source.fg8, bg8: ground.bg8,
                                  attributes: derivation.attributes)
            if source.bg >= 0 { style.bg = source.bg }
            if source.bg8 >= 0 { style.bg8 = source.bg8 }
            // Attributes that carry the meaning in colourless themes (reverse, dim) come along.
            style.attributes.formUnion(source.attributes.intersection([.reverse, .dim, .underline]))
            if ground.attributes.contains(.reverse) && !style.attributes.contains(.reverse) {
                style.attributes.insert(.reverse)
            }
            styles[role] = style
        }
        return Theme(name: name, styles: styles)
    }

    private static func parseStyle(_ table: [String: ThemeTOML.Value], role: String, file: String) throws(ThemeError) -> RoleStyle {
        var style = RoleStyle()
        var fg8: ColourIndex? = nil
        var bg8: ColourIndex? = nil
        for (key, value) in table.sorted(by: { $0.key < $1.key }) {
            let location = "\(role).\(key)"
            switch key {
            case "fg": style.fg = try colour(value, limit: 256, location: location, file: file)
            case "bg": style.bg = try colour(value, limit: 256, location: location, file: file)
            case "fg8": fg8 = try colour(value, limit: 8, location: location, file: file)
            case "bg8": bg8 = try colour(value, limit: 8, location: location, file: file)
            case "attrs", "attributes":
                let names: [String]
                switch value {
                case .string(let s): names = s.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
                case .array(let items):
                    var collected: [String] = []
                    for item in items {
                        guard case .string(let s) = item else {
                            throw ThemeError(file: file, location: location, problem: "attributes must be strings")
                        }
                        collected.append(s)
                    }
                    names = collected
                default: throw ThemeError(file: file, location: location, problem: "expected a list like [\"bold\"]")
                }
                for attributeName in names where attributeName != "none" && attributeName != "normal" {
                    guard let attribute = TextAttribute(rawValue: attributeName.lowercased()) else {
                        let known = TextAttribute.allCases.map(\.rawValue).joined(separator: ", ")
                        throw ThemeError(file: file, location: location,
                                         problem: "unknown attribute '\(attributeName)' (known: \(known))")
                    }
                    style.attributes.insert(attribute)
                }
            default:
                throw ThemeError(file: file, location: location, problem: "unknown key (expected fg, bg, fg8, bg8, attrs)")
            }
        }
        // Without an explicit fallback, basic and bright colours map onto the 8 basic ones.
        style.fg8 = fg8 ?? (style.fg < 16 ? (style.fg < 0 ? -1 : style.fg % 8) : -1)
        style.bg8 = bg8 ?? (style.bg < 16 ? (style.bg < 0 ? -1 : style.bg % 8) : -1)
        return style
    }

    static let colourNames: [String: ColourIndex] = [
        "default": -1, "none": -1,
        "black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7,
        "brightblack": 8, "gray": 8, "grey": 8, "brightred": 9, "brightgreen": 10, "brightyellow": 11,
        "brightblue": 12, "brightmagenta": 13, "brightcyan": 14, "brightwhite": 15,
    ]

    private static func colour(_ value: ThemeTOML.Value, limit: Int, location: String, file: String) throws(ThemeError) -> ColourIndex {
        let index: ColourIndex
        switch value {
        case .integer(let n): index = n
        case .string(let s):
            let key = s.lowercased().replacingOccurrences(of: "_", with: "").replacingOccurrences(of: "-", with: "")
            if let named = colourNames[key] {
                index = named
            } else if let n = Int(s) {
                index = n
            } else {
                throw ThemeError(file: file, location: location, problem: "unknown colour '\(s)'")
            }
        default:
            throw ThemeError(file: file, location: location, problem: "expected a colour name or a number 0-\(limit - 1)")
        }
        guard index >= -1 && index < limit else {
            let what = limit == 8 ? "the 8-colour fallback must be one of the 8 basic colours or \"default\""
                : "colour numbers go from 0 to 255"
            throw ThemeError(file: file, location: location, problem: "colour \(index) out of range: \(what)")
        }
        return index
    }
}

/// A theme file read with TOMLKit, in the shape the theme parser checks: top-level values, and one table a role.
enum ThemeTOML {
    enum Value: Equatable {
        case string(String)
        case integer(Int)
        case bool(Bool)
        case array([Value])
        /// A TOML value themes have no use for (a float, a date, an inline table); named for the error message.
        case other(String)
    }

    struct Document {
        var root: [String: Value] = [:]
        var sections: [String: [String: Value]] = [:]
    }

    struct ParseError: Error {
        var line: Int
        var problem: String
    }

    static func parse(_ text: String) throws(ParseError) -> Document {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ParseError(line: error.source.begin.line, problem: error.description)
        } catch {
            throw ParseError(line: 0, problem: "\(error)")
        }
        var document = Document()
        for (key, value) in table {
            if let section = value.table {
                var entries: [String: Value] = [:]
                for (name, item) in section { entries[name] = convert(item) }
                document.sections[key] = entries
            } else {
                document.root[key] = convert(value)
            }
        }
        return document
    }

    private static func convert(_ value: TOMLValueConvertible) -> Value {
        if let s = value.string { return .string(s) }
        if let n = value.int { return .integer(n) }
        if let b = value.bool { return .bool(b) }
        if let items = value.array { return .array(items.map(convert)) }
        return .other("\(value.type)")
    }
}
