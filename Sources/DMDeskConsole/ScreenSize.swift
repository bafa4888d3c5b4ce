/// The terminal's size, and the layout arithmetic that both drawing and the input step need (how many thread
/// rows a page is, how many conversation rows), so keys never depend on what the last frame happened to draw.
struct ScreenSize: Equatable, Sendable {
    var rows: Int
    var cols: Int
    /// A warning line under the title bar (an invalid token), which the body gives a row to.
    var hasBanner = false

    /// Below 80×24 the console shows one pane at a time.
    var isTwoPane: Bool { cols >= 80 && rows >= 24 }

    /// Rows between the title bar and the notice and status lines.
    var bodyHeight: Int { rows - 3 - (hasBanner ? 1 : 0) }

    /// The thread list's width beside the conversation (two-pane mode).
    var listWidth: Int { min(52, max(34, cols * 2 / 5)) }

    /// Thread rows (two lines each) the list shows. With more threads than fit, the bottom line is kept for the
    /// position hint, so it never covers a thread.
    func listCapacity(threadCount: Int) -> Int {
        let height = bodyHeight
        return threadCount > max(1, height / 2) ? max(1, (height - 1) / 2) : max(1, height / 2)
    }

    /// Message rows in the conversation pane: the body less the header (name and rule) and the compose area (a rule
    /// and `draftRows`).
    func conversationHeight(draftRows: Int) -> Int { max(1, bodyHeight - draftRows - 3) }
}
