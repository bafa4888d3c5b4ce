import DMDeskCore

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
    case nextUnread, filter, resolve, retryFailed, pageUp, pageDown, top, bottom, help, quit, back
    case searchMessages, nextNeedingYou, resolveAndNext, markAllRead, listLinks
    // finding in a conversation (`/` there)
    case findOlder, findNewer, endFind
    // the link list (`o`)
    case copyLink, moveLink, closeLinks
    // snoozing (`z`)
    case snooze, toggleSnoozed, snoozePreset, snoozeUntilReply, snoozeTypedTime, cancelSnooze
    // search results (`S`)
    case moveResult, openResult, closeResults, searchAgain
    // the comments view (`c`)
    case toggleComments, replyComment
    // editing (compose line and prompts)
    case send, newline, cancel, attach, externalEditor
    case cursorSideways, lineStart, lineEnd, deleteBack, deleteForward, deleteWord, deleteToStart
    case deleteToEnd, cursorUp, cursorDown
    // the reaction picker (`e`)
    case pickReaction, pickHeart, cancelReaction
    // the help overlay
    case helpLineDown, helpLineUp, helpPageDown, helpPageUp, closeHelp
    // the question before quitting with a draft
    case quitAnyway, keepDraft
}

/// Which table applies: one per thing the keys can be for (see `InputMode.keyContext`). The help overlay lists
/// them in this order.
public enum KeyContext: String, CaseIterable, Sendable {
    case inbox, conversationFind, reactionPicker, snoozePicker, editor, searchResults, linkList, help, confirmQuit

    public var title: String {
        switch self {
        case .inbox: return "Inbox"
        case .conversationFind: return "Finding in a conversation"
        case .linkList: return "Links in a conversation"
        case .snoozePicker: return "Snooze until"
        case .reactionPicker: return "Reaction picker"
        case .editor: return "Compose and prompts"
        case .searchResults: return "Search results"
        case .help: return "This help"
        case .confirmQuit: return "Quit with a draft"
        }
    }

    /// Where a key this context does not bind is looked up next: finding in a conversation changes a few keys and
    /// leaves the rest as they are.
    public var parent: KeyContext? {
        self == .conversationFind ? .inbox : nil
    }
}

public struct KeyBinding: Sendable {
    public var context: KeyContext
    /// The keys; none for a context's "any other key" entry.
    public var keys: [Key]
    /// The context's fallback: every key not bound in it does this (e.g. any other key closes the help).
    public var isAnyOtherKey: Bool
    public var command: ConsoleCommand
    public var description: String
    /// How the help writes a run of keys ("1–9"), instead of listing each.
    public var label: String?

    public init(_ context: KeyContext, _ keys: [Key], _ command: ConsoleCommand, _ description: String, label: String? = nil) {
        self.context = context
        self.keys = keys
        self.isAnyOtherKey = false
        self.command = command
        self.description = description
        self.label = label
    }

    /// The entry for every key not bound in `context`.
    public static func anyOtherKey(_ context: KeyContext, _ command: ConsoleCommand, _ description: String) -> KeyBinding {
        var binding = KeyBinding(context, [], command, description)
        binding.isAnyOtherKey = true
        return binding
    }

    /// How the keys are written in the help overlay.
    public var keysLabel: String { isAnyOtherKey ? "any other key" : label ?? keys.map(\.label).joined(separator: " ") }
}

/// The one table that drives both key dispatch and the `?` help overlay (as in tig).
public struct KeyMap: Sendable {
    public var bindings: [KeyBinding]
    private var lookup: [KeyContext: [Key: ConsoleCommand]] = [:]
    private var fallback: [KeyContext: ConsoleCommand] = [:]

    public init(_ bindings: [KeyBinding]) {
        self.bindings = bindings
        for binding in bindings {
            if binding.isAnyOtherKey, fallback[binding.context] == nil { fallback[binding.context] = binding.command }
            for key in binding.keys where lookup[binding.context]?[key] == nil {
                lookup[binding.context, default: [:]][key] = binding.command
            }
        }
    }

    /// The command `key` asks for in `context`: its own binding, else the context's "any other key" entry, else its
    /// parent's, else none.
    public func command(for key: Key, in context: KeyContext) -> ConsoleCommand? {
        lookup[context]?[key] ?? fallback[context] ?? context.parent.flatMap { command(for: key, in: $0) }
    }

    /// Keys bound more than once in the same context, and a second "any other key" in one (the table must have
    /// none: the later entry would never be reached).
    public func duplicateKeys() -> [(context: KeyContext, keys: String)] {
        var seen: Set<String> = []
        var duplicates: [(context: KeyContext, keys: String)] = []
        for binding in bindings {
            let keys: [(id: String, label: String)] =
                binding.isAnyOtherKey ? [("any other key", binding.keysLabel)] : binding.keys.map { ("\($0)", $0.label) }
            for key in keys where !seen.insert(binding.context.rawValue + "|" + key.id).inserted {
                duplicates.append((binding.context, key.label))
            }
        }
        return duplicates
    }

    /// The help overlay's text, straight from the table: a heading per context, then "keys  description".
    public func helpLines() -> [String] {
        let keyColumn = bindings.map { TextWidth.width($0.keysLabel) }.max() ?? 0
        var lines: [String] = []
        for context in KeyContext.allCases {
            if !lines.isEmpty { lines.append("") }
            lines.append(context.title)
            for binding in bindings where binding.context == context {
                lines.append("  " + TextWidth.fit(binding.keysLabel, to: keyColumn) + "  " + binding.description)
            }
        }
        return lines
    }

    /// The same table grouped for the overlay: per context, its bindings as (keys, description).
    public func helpSections() -> [(title: String, entries: [(keys: String, description: String)])] {
        KeyContext.allCases.compactMap { context in
            let entries = bindings.filter { $0.context == context }
                .map { (keys: $0.keysLabel, description: $0.description) }
            return entries.isEmpty ? nil : (title: context.title, entries: entries)
        }
    }

    public static let standard = KeyMap([
        KeyBinding(.inbox, [.char("j"), .down], .moveDown, "next thread / message"),
        KeyBinding(.inbox, [.char("k"), .up], .moveUp, "previous thread / message"),
        KeyBinding(.inbox, [.enter], .openThread, "open the selected thread"),
        KeyBinding(.inbox, [.tab, .backTab], .switchPane, "switch pane: threads ↔ conversation"),
        KeyBinding(.inbox, [.char("r"), .char("i")], .compose, "reply in the open thread"),
        KeyBinding(.inbox, [.char("E")], .externalEditor, "reply in $EDITOR"),
        KeyBinding(.inbox, [.char("t")], .takeOver, "take the thread over from the bot"),
        KeyBinding(.inbox, [.char("a")], .handBack, "hand the thread back to the bot"),
        KeyBinding(.inbox, [.char("n")], .notifyManager, "notify the manager on WhatsApp"),
        KeyBinding(.inbox, [.char("e")], .react, "react to the selected message"),
        KeyBinding(.inbox, [.char("u")], .nextUnread, "jump to the next unread thread"),
        KeyBinding(.inbox, [.char("!")], .nextNeedingYou, "next thread that needs you (⚑)"),
        KeyBinding(.inbox, [.char("X")], .resolveAndNext, "resolve, then the next one"),
        KeyBinding(.inbox, [.char("M")], .markAllRead, "mark every listed thread read"),
        KeyBinding(.inbox, [.char("/")], .filter, "filter; in a conversation: find"),
        KeyBinding(.inbox, [.char("o")], .listLinks, "the conversation's links: copy one"),
        KeyBinding(.inbox, [.char("S"), .ctrl("r")], .searchMessages, "search all messages"),
        KeyBinding(.inbox, [.char("x")], .resolve, "resolve the thread (again: reopen)"),
        KeyBinding(.inbox, [.char("z")], .snooze, "snooze the thread (again: wake it)"),
        KeyBinding(.inbox, [.char("Z")], .toggleSnoozed, "show / hide snoozed threads"),
        KeyBinding(.inbox, [.char("R")], .retryFailed, "retry a failed send"),
        KeyBinding(.inbox, [.pageUp, .ctrl("b")], .pageUp, "scroll up a page"),
        KeyBinding(.inbox, [.pageDown, .ctrl("f")], .pageDown, "scroll down a page"),
        KeyBinding(.inbox, [.char("g"), .home], .top, "top: newest thread / oldest message"),
        KeyBinding(.inbox, [.char("G"), .end], .bottom, "bottom"),
        KeyBinding(.inbox, [.char("c")], .toggleComments, "comments under your posts ↔ threads"),
        KeyBinding(.inbox, [.char("p"), .char("P")], .replyComment, "comments: reply by DM / publicly"),
        KeyBinding(.inbox, [.char("?")], .help, "show or hide this help"),
        KeyBinding(.inbox, [.char("q")], .quit, "quit (asks if a draft would be lost)"),
        KeyBinding(.inbox, [.escape], .back, "clear the filter, or back to the list"),

        KeyBinding(.conversationFind, [.char("n")], .findOlder, "next match (older)"),
        KeyBinding(.conversationFind, [.char("N")], .findNewer, "previous match (newer)"),
        KeyBinding(.conversationFind, [.escape], .endFind, "stop finding"),

        // The numbers are the picker line's: "1 ♥ love  2 👍 like …" (`ReactionChoice.allCases`).
        KeyBinding(.reactionPicker, (1...ReactionChoice.allCases.count).map { .char(Character(String($0))) }, .pickReaction,
                   "the reaction with that number", label: "1–\(ReactionChoice.allCases.count)"),
        KeyBinding(.reactionPicker, [.char("h"), .enter], .pickHeart, "♥ (love)"),
        .anyOtherKey(.reactionPicker, .cancelReaction, "cancel"),

        KeyBinding(.snoozePicker, (1...SnoozeTime.presets.count).map { .char(Character(String($0))) }, .snoozePreset,
                   "1 h · 4 h · tomorrow · next Monday", label: "1–\(SnoozeTime.presets.count)"),
        KeyBinding(.snoozePicker, [.char("r")], .snoozeUntilReply, "until the customer writes"),
        KeyBinding(.snoozePicker, [.char("t")], .snoozeTypedTime, "type a time"),
        .anyOtherKey(.snoozePicker, .cancelSnooze, "cancel"),

        KeyBinding(.editor, [.enter], .send, "send the reply / accept a prompt"),
        KeyBinding(.editor, [.altEnter], .newline, "new line in the reply"),
        KeyBinding(.editor, [.escape], .cancel, "stop editing, keep the draft"),
        KeyBinding(.editor, [.ctrl("o")], .attach, "attach media by URL (again: type)"),
        KeyBinding(.editor, [.ctrl("x")], .externalEditor, "reply in $EDITOR (Ctrl-X Ctrl-E)"),
        KeyBinding(.editor, [.left, .right], .cursorSideways, "cursor left / right"),
        KeyBinding(.editor, [.up], .cursorUp, "line above"),
        KeyBinding(.editor, [.down], .cursorDown, "line below"),
        KeyBinding(.editor, [.home, .ctrl("a")], .lineStart, "start of line"),
        KeyBinding(.editor, [.end, .ctrl("e")], .lineEnd, "end of line"),
        KeyBinding(.editor, [.backspace], .deleteBack, "delete the character before"),
        KeyBinding(.editor, [.delete, .ctrl("d")], .deleteForward, "delete the character under"),
        KeyBinding(.editor, [.ctrl("w")], .deleteWord, "delete the word before"),
        KeyBinding(.editor, [.ctrl("u")], .deleteToStart, "delete to start of line"),
        KeyBinding(.editor, [.ctrl("k")], .deleteToEnd, "delete to end of line"),

        KeyBinding(.searchResults, [.char("j"), .down, .char("k"), .up], .moveResult, "next / previous result"),
        KeyBinding(.searchResults, [.enter, .char("o")], .openResult, "open it in its conversation"),
        KeyBinding(.searchResults, [.char("S"), .ctrl("r")], .searchAgain, "change the search"),
        .anyOtherKey(.searchResults, .closeResults, "close the results"),

        KeyBinding(.linkList, (1...9).map { .char(Character(String($0))) }, .copyLink, "copy link 1–9 to the clipboard", label: "1–9"),
        KeyBinding(.linkList, [.enter], .copyLink, "copy the highlighted link"),
        KeyBinding(.linkList, [.char("j"), .down, .char("k"), .up], .moveLink, "next / previous link"),
        .anyOtherKey(.linkList, .closeLinks, "close the list"),

        KeyBinding(.help, [.char("j"), .down], .helpLineDown, "scroll down a line"),
        KeyBinding(.help, [.char("k"), .up], .helpLineUp, "scroll up a line"),
        KeyBinding(.help, [.pageDown, .char(" ")], .helpPageDown, "scroll down a page"),
        KeyBinding(.help, [.pageUp], .helpPageUp, "scroll up a page"),
        .anyOtherKey(.help, .closeHelp, "close the help"),

        KeyBinding(.confirmQuit, [.char("y"), .char("Y")], .quitAnyway, "quit; the draft is lost"),
        .anyOtherKey(.confirmQuit, .keepDraft, "keep the draft, back to the inbox"),
    ])
}
