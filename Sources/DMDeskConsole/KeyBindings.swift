/// A key press, decoded from curses input.
public enum Key: Hashable, Sendable {
    case char(Character)
    /// Ctrl + a letter (lowercase), e.g. `.ctrl("w")`.
    case ctrl(Character)
    case enter, altEnter, tab, backTab, escape, backspace, delete
    case up, down, left, right, home, end, pageUp, pageDown
    case resize

    /// How the key is written in the help overlay.
    public var label: String {
        switch self {
        case .char(" "): return "Space"
        case .char(let c): return String(c)
        case .ctrl(let c): return "Ctrl-" + String(c).uppercased()
        case .enter: return "Enter"
        case .altEnter: return "Alt+Enter"
        case .tab: return "Tab"
        case .backTab: return "Shift+Tab"
        case .escape: return "Esc"
        case .backspace: return "Backspace"
        case .delete: return "Delete"
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .home: return "Home"
        case .end: return "End"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .resize: return "resize"
        }
    }
}

/// Everything a key can ask for. Dispatch goes through these names, never through raw keys.
public enum ConsoleCommand: String, CaseIterable, Sendable {
    // browsing
    case moveDown, moveUp, openThread, switchPane, compose, takeOver, handBack, notifyManager, react
    case nextUnread, filter, resolve, retryFailed, pageUp, pageDown, top, bottom, help, quit
    // editing (compose line and prompts)
    case send, newline, cancel
    case cursorLeft, cursorRight, lineStart, lineEnd, deleteBack, deleteForward, deleteWord, deleteToStart
    case deleteToEnd, cursorUp, cursorDown
}

/// Which table applies: browsing the inbox, or typing in the compose line / a prompt.
public enum KeyContext: String, CaseIterable, Sendable {
    case inbox, editor

    public var title: String {
        switch self {
        case .inbox: return "Inbox"
        case .editor: return "Compose and prompts"
        }
    }
}

public struct KeyBinding: Sendable {
    public var context: KeyContext
    public var keys: [Key]
    public var command: ConsoleCommand
    public var description: String

    public init(_ context: KeyContext, _ keys: [Key], _ command: ConsoleCommand, _ description: String) {
        self.context = context
        self.keys = keys
        self.command = command
        self.description = description
    }
}

/// The one table that drives both key dispatch and the `?` help overlay (as in tig).
public struct KeyMap: Sendable {
    public var bindings: [KeyBinding]
    private var lookup: [KeyContext: [Key: ConsoleCommand]] = [:]

    public init(_ bindings: [KeyBinding]) {
        self.bindings = bindings
        for binding in bindings {
            for key in binding.keys where lookup[binding.context]?[key] == nil {
                lookup[binding.context, default: [:]][key] = binding.command
            }
        }
    }

    public func command(for key: Key, in context: KeyContext) -> ConsoleCommand? {
        lookup[context]?[key]
    }

    /// Keys bound more than once in the same context (the table must have none).
    public func duplicateKeys() -> [(KeyContext, Key)] {
        var seen: Set<String> = []
        var duplicates: [(KeyContext, Key)] = []
        for binding in bindings {
            for key in binding.keys {
                let id = "\(binding.context.rawValue)|\(key)"
                if !seen.insert(id).inserted { duplicates.append((binding.context, key)) }
            }
        }
        return duplicates
    }

    /// The help overlay's text, straight from the table: a heading per context, then "keys  description".
    public func helpLines() -> [String] {
        let keyColumn = bindings.map { TextWidth.width($0.keys.map(\.label).joined(separator: " ")) }.max() ?? 0
        var lines: [String] = []
        for context in KeyContext.allCases {
            if !lines.isEmpty { lines.append("") }
            lines.append(context.title)
            for binding in bindings where binding.context == context {
                let keys = binding.keys.map(\.label).joined(separator: " ")
                lines.append("  " + TextWidth.fit(keys, to: keyColumn) + "  " + binding.description)
            }
        }
        return lines
    }

    /// The same table grouped for the overlay: per context, its bindings as (keys, description).
    public func helpSections() -> [(title: String, entries: [(keys: String, description: String)])] {
        KeyContext.allCases.compactMap { context in
            let entries = bindings.filter { $0.context == context }
                .map { (keys: $0.keys.map(\.label).joined(separator: " "), description: $0.description) }
            return entries.isEmpty ? nil : (title: context.title, entries: entries)
        }
    }

    public static let standard = KeyMap([
        KeyBinding(.inbox, [.char("j"), .down], .moveDown, "next thread / message"),
        KeyBinding(.inbox, [.char("k"), .up], .moveUp, "previous thread / message"),
        KeyBinding(.inbox, [.enter, .char("o")], .openThread, "open the selected thread"),
        KeyBinding(.inbox, [.tab, .backTab], .switchPane, "switch pane: threads ↔ conversation"),
        KeyBinding(.inbox, [.char("r"), .char("i")], .compose, "reply in the open thread"),
        KeyBinding(.inbox, [.char("t")], .takeOver, "take the thread over from the bot"),
        KeyBinding(.inbox, [.char("a")], .handBack, "hand the thread back to the bot"),
        KeyBinding(.inbox, [.char("n")], .notifyManager, "notify the manager on WhatsApp"),
        KeyBinding(.inbox, [.char("e")], .react, "react to the selected message"),
        KeyBinding(.inbox, [.char("u")], .nextUnread, "jump to the next unread thread"),
        KeyBinding(.inbox, [.char("/")], .filter, "filter threads (Esc clears)"),
        KeyBinding(.inbox, [.char("x")], .resolve, "resolve the thread (again: reopen)"),
        KeyBinding(.inbox, [.char("R")], .retryFailed, "retry a failed send"),
        KeyBinding(.inbox, [.pageUp, .ctrl("b")], .pageUp, "scroll up a page"),
        KeyBinding(.inbox, [.pageDown, .ctrl("f")], .pageDown, "scroll down a page"),
        KeyBinding(.inbox, [.char("g"), .home], .top, "top: newest thread / oldest message"),
        KeyBinding(.inbox, [.char("G"), .end], .bottom, "bottom"),
        KeyBinding(.inbox, [.char("?")], .help, "show or hide this help"),
        KeyBinding(.inbox, [.char("q")], .quit, "quit (asks if a draft would be lost)"),

        KeyBinding(.editor, [.enter], .send, "send the reply / accept a prompt"),
        KeyBinding(.editor, [.altEnter], .newline, "new line in the reply"),
        KeyBinding(.editor, [.escape], .cancel, "stop editing, keep the draft"),
        KeyBinding(.editor, [.left], .cursorLeft, "cursor left"),
        KeyBinding(.editor, [.right], .cursorRight, "cursor right"),
        KeyBinding(.editor, [.up], .cursorUp, "line above"),
        KeyBinding(.editor, [.down], .cursorDown, "line below"),
        KeyBinding(.editor, [.home, .ctrl("a")], .lineStart, "start of line"),
        KeyBinding(.editor, [.end, .ctrl("e")], .lineEnd, "end of line"),
        KeyBinding(.editor, [.backspace], .deleteBack, "delete the character before"),
        KeyBinding(.editor, [.delete, .ctrl("d")], .deleteForward, "delete the character under"),
        KeyBinding(.editor, [.ctrl("w")], .deleteWord, "delete the word before"),
        KeyBinding(.editor, [.ctrl("u")], .deleteToStart, "delete to start of line"),
        KeyBinding(.editor, [.ctrl("k")], .deleteToEnd, "delete to end of line"),
    ])
}
