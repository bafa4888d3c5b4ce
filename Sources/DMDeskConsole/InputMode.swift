import DMDeskCore

/// What the input is currently for.
enum InputMode: Equatable, Sendable {
    case browse
    case compose
    case prompt(PromptKind)
    case reactPicker
    /// `S`: the results of a search across conversations (`ConsoleModel.search`).
    case searchResults
    /// `o`: the open thread's links (`ConsoleModel.links`).
    case linkList
    /// `z`: when `thread`'s snooze ends (`SnoozeTime.presets`, until reply, or a typed time).
    case snoozePicker(thread: String)
    case confirmQuit
    case help

    /// The key table's context for this mode: each mode's keys are one section of `KeyMap`.
    var keyContext: KeyContext {
        switch self {
        case .browse: return .inbox
        case .compose, .prompt: return .editor
        case .reactPicker: return .reactionPicker
        case .searchResults: return .searchResults
        case .linkList: return .linkList
        case .snoozePicker: return .snoozePicker
        case .confirmQuit: return .confirmQuit
        case .help: return .help
        }
    }
}

enum PromptKind: Equatable, Sendable {
    case filter
    case search
    /// `/` in a conversation: the words to find in `thread`.
    case find(thread: String)
    /// `z` then `t`: a time typed for `thread`'s snooze to end.
    case snoozeUntil(thread: String)
    case notify(thread: String?)
    /// `Ctrl-O` in the reply: media by URL for `thread`; `type` nil means guessed from the URL (`Ctrl-O` again picks one).
    case attach(thread: String, type: AttachmentKind?)
    /// `p` / `P` in the comments view: the reply to comment `comment`, privately (a DM) or publicly.
    case commentReply(comment: String, to: String, publicly: Bool)

    /// The prompt's label, given what has been typed so far.
    func label(for text: String) -> String {
        switch self {
        case .filter: return "Filter: "
        case .search: return "Search messages: "
        case .find: return "Find in this conversation: "
        case .snoozeUntil: return "Snooze until (1h, tomorrow 14:00, fri, 2026-12-24 10:00): "
        case .notify: return "Notify manager: "
        case .commentReply(_, let to, let publicly):
            return publicly ? "Public reply to \(to): " : "Private reply (DM) to \(to): "
        case .attach(_, let type):
            let kind = type ?? .guess(fromURL: text)
            return "Attach \(kind.rawValue)\(type == nil ? " (guessed; Ctrl-O changes)" : " (Ctrl-O changes)") URL: "
        }
    }
}
