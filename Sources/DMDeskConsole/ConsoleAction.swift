/// What the input step and the reply handlers ask the controller to do beyond changing the model: the only way
/// anything leaves `ConsoleModel`.
enum ConsoleAction: Equatable, Sendable {
    /// Write this request on the socket (and route its reply back).
    case request(DaemonRequest)
    /// Stop the console with this exit status.
    case quit(status: Int32)
    /// Ring the terminal bell (if the operator wants it).
    case bell
    /// Open `thread`'s draft in the operator's `$VISUAL`/`$EDITOR` (curses suspended) and bring the text back.
    case editDraft(thread: String)
    /// Put `text` on the operator's clipboard (OSC 52: their own terminal's, over SSH too).
    case copyToClipboard(String)
}

extension ConsoleAction {
    var isQuit: Bool { if case .quit = self { return true } else { return false } }
}
