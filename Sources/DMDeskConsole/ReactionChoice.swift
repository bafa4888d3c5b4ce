/// The reactions offered by `e`. Instagram's Send API takes "love" (shown as a heart); the others are
/// passed on for the daemon to map or refuse.
public enum ReactionChoice: String, CaseIterable, Sendable {
    case love, like, laugh, wow, sad, angry

    public var symbol: String {
        switch self {
        case .love: return "♥"
        case .like: return "👍"
        case .laugh: return "😆"
        case .wow: return "😮"
        case .sad: return "😢"
        case .angry: return "😠"
        }
    }

    /// The symbol for a reaction name from the daemon (unknown names are shown as text).
    public static func symbol(for name: String) -> String {
        ReactionChoice(rawValue: name.lowercased())?.symbol ?? Sanitizer.visible(name, newlines: .space)
    }
}
