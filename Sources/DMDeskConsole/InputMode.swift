/// What the input is currently for.
enum InputMode: Equatable, Sendable {
    case browse
    case compose
    case prompt(PromptKind)
    case reactPicker
    case confirmQuit
    case help

    /// The key table's context for this mode: each mode's keys are one section of `KeyMap`.
    var keyContext: KeyContext {
        switch self {
        case .browse: return .inbox
        case .compose, .prompt: return .editor
        case .reactPicker: return .reactionPicker
        case .confirmQuit: return .confirmQuit
        case .help: return .help
        }
    }
}

enum PromptKind: Equatable, Sendable {
    case filter
    case notify(thread: String?)

    var label: String {
        switch self {
        case .filter: return "Filter: "
        case .notify: return "Notify manager: "
        }
    }
}
