import CNcursesw
import Foundation
import Glibc

/// The only code that talks to curses. Owned by the console's single input loop; never touched
/// from another thread.
final class Screen {
    private(set) var rows: Int = 0
    private(set) var cols: Int = 0
    private let window: UnsafeMutablePointer<WINDOW>
    private var roleAttributes: [UIRole: Int32] = [:]
    private(set) var isActive = true
    /// OSC 8 links drawn this frame, and those the terminal holds from the last one (see `Hyperlink`).
    private let hyperlinks: Bool
    private var frameLinks: [DrawnLink] = []
    private var shownLinks: [DrawnLink] = []
    /// Frame lines as Unicode box characters (a UTF-8 locale), else curses' ACS. ACS is drawn by switching the
    /// terminal's character set, which terminfo must describe right: with `TERM=xterm-256color` inside tmux, or
    /// in PuTTY, it comes out as `qqqq` and `xxxx`, while Unicode is right whatever TERM says.
    let unicodeLines: Bool

    struct DrawnLink: Equatable {
        var y: Int
        var x: Int
        var text: String
        var target: String
    }

    /// Starts curses. `setlocale` must come first or wide characters are drawn as escapes.
    init(theme: Theme, hyperlinks: Bool = false) {
        self.hyperlinks = hyperlinks
        _ = setlocale(LC_ALL, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            // Terminals are UTF-8 nowadays even when LANG was not forwarded over SSH.
            _ = setlocale(LC_CTYPE, "C.UTF-8")
        }
        unicodeLines = String(cString: nl_langinfo(nl_item(CODESET))) == "UTF-8"
        _ = initscr()
        window = dm_stdscr()!
        _ = cbreak()
        _ = noecho()
        _ = nonl()
        _ = keypad(window, true)
        _ = nodelay(window, true)
        _ = set_escdelay(25)
        _ = curs_set(0)
        applyTheme(theme)
        updateSize()
    }

    func applyTheme(_ theme: Theme) {
        let colour = theme.usesColour && has_colors()
        if colour {
            _ = start_color()
            _ = use_default_colors()
        }
        let many = colour && dm_colors() >= 256
        for (index, role) in UIRole.allCases.enumerated() {
            let style = theme[role]
            var attributes: Int32 = 0
            if colour && index + 1 < dm_color_pairs() {
                let fg = many ? style.fg : style.fg8
                let bg = many ? style.bg : style.bg8
                _ = init_pair(Int16(index + 1), Int16(fg), Int16(bg))
                attributes |= dm_color_pair(Int32(index + 1))
            }
            for attribute in style.attributes {
                switch attribute {
                case .bold: attributes |= dm_attr_bold()
                case .underline: attributes |= dm_attr_underline()
                case .reverse: attributes |= dm_attr_reverse()
                case .dim: attributes |= dm_attr_dim()
                case .italic: attributes |= dm_attr_italic()
                case .standout: attributes |= dm_attr_standout()
                }
            }
            roleAttributes[role] = attributes
        }
    }

    /// Hands the terminal to another program (an editor) and takes it back after `body`: curses' modes are saved,
    /// the terminal is restored for it, and the whole screen is redrawn afterwards.
    func suspended<T>(_ body: () throws -> T) rethrows -> T {
        _ = def_prog_mode()
        _ = curs_set(1)
        _ = endwin()
        defer {
            _ = reset_prog_mode()
            _ = curs_set(0)
            _ = clearok(window, true)
            _ = refresh()
            updateSize()
        }
        return try body()
    }

    /// Restores the terminal. Safe to call twice.
    func end() {
        guard isActive else { return }
        isActive = false
        _ = curs_set(1)
        _ = endwin()
    }

    /// After SIGWINCH: ask the kernel for the new size and tell curses (our handler replaces curses' own).
    func handleResize() {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_row > 0 && size.ws_col > 0 {
            _ = resizeterm(Int32(size.ws_row), Int32(size.ws_col))
        }
        updateSize()
        _ = clearok(window, true)  // repaint every cell: no leftovers from the old geometry
    }

    private func updateSize() {
        rows = Int(dm_getmaxy(window))
        cols = Int(dm_getmaxx(window))
    }

    // MARK: - Frame

    func beginFrame() {
        updateSize()
        _ = werase(window)
        frameLinks.removeAll(keepingCapacity: true)
    }

    func endFrame(cursor: (y: Int, x: Int)?) {
        if let cursor, cursor.y >= 0, cursor.y < rows, cursor.x >= 0, cursor.x < cols {
            _ = dm_move(window, Int32(cursor.y), Int32(cursor.x))
            _ = curs_set(1)
        } else {
            _ = curs_set(0)
        }
        let linksChanged = frameLinks != shownLinks
        if linksChanged {
            // Cells that were links are repainted whole, so none keeps a link it no longer shows.
            for link in shownLinks where link.y < rows { _ = wredrawln(window, Int32(link.y), 1) }
        }
        _ = wnoutrefresh(window)
        _ = doupdate()
        if linksChanged {
            writeLinks(frameLinks)
            shownLinks = frameLinks
        }
    }

    /// Puts `text` on the clipboard of the operator's terminal with OSC 52 (tmux passes it on with `set-clipboard on`).
    /// Base64 keeps whatever `text` holds inside the sequence. False when the terminal is not one to send OSC to.
    func copyToClipboard(_ text: String) -> Bool {
        guard hyperlinks else { return false }
        writeToTerminal("\u{1B}]52;c;" + Data(text.utf8).base64EncodedString() + "\u{1B}\\")
        return true
    }

    private func writeToTerminal(_ out: String) {
        var bytes = Array(out.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
            offset += n
        }
    }

    /// Draws checked links over the cells curses just drew with the same text: DECSC/DECRC keep curses' cursor and
    /// attributes as it believes them.
    private func writeLinks(_ links: [DrawnLink]) {
        guard !links.isEmpty else { return }
        var out = "\u{1B}7"
        for link in links { out += "\u{1B}[\(link.y + 1);\(link.x + 1)H" + Hyperlink.sequence(target: link.target, text: link.text) }
        out += "\u{1B}8"
        writeToTerminal(out)
    }

    /// `put`, and when the terminal takes them and `target` passed `Hyperlink.target`, an OSC 8 link over the
    /// drawn text. Link text is a sanitised URL (cut with "…" at the pane's edge): one column a character.
    @discardableResult
    func putLink(_ text: String, target: String?, y: Int, x: Int, width: Int, role: UIRole) -> Int {
        let used = put(text, y: y, x: x, width: width, role: role)
        if hyperlinks, let target, used > 0, text.allSatisfy({ TextWidth.width(of: $0) == 1 }) {
            frameLinks.append(DrawnLink(y: y, x: x, text: String(text.prefix(used)), target: target))
        }
        return used
    }

    func bell() { _ = beep() }

    // MARK: - Drawing

    /// Draws already-sanitized text at (y, x), clipped to `width` columns; returns the columns used.
    /// Grapheme by grapheme, so the row stays aligned whatever the emoji (see `TextWidth.drawForm`).
    @discardableResult
    func put(_ text: String, y: Int, x: Int, width: Int, role: UIRole) -> Int {
        guard y >= 0, y < rows, x >= 0, x < cols else { return 0 }
        let limit = min(width, cols - x)
        guard limit > 0 else { return 0 }
        _ = dm_attrset(window, roleAttributes[role] ?? 0)
        var column = 0
        var buffer: [wchar_t] = []
        buffer.reserveCapacity(limit + 8)
        var bufferStart = x
        func flush() {
            guard !buffer.isEmpty else { return }
            buffer.withUnsafeBufferPointer {
                _ = dm_mvaddnwstr(window, Int32(y), Int32(bufferStart), $0.baseAddress, Int32($0.count))
            }
            buffer.removeAll(keepingCapacity: true)
        }
        for ch in text {
            let w = TextWidth.width(of: ch)
            if w == 0 { continue }  // stray zero-width marks would attach to a neighbour's cell
            if column + w > limit { break }
            switch TextWidth.drawForm(of: ch) {
            case .plain:
                if buffer.isEmpty { bufferStart = x + column }
                for s in ch.unicodeScalars { buffer.append(wchar_t(bitPattern: s.value)) }
            case .padded(let scalars, let padding):
                if buffer.isEmpty { bufferStart = x + column }
                for s in scalars { buffer.append(wchar_t(bitPattern: s.value)) }
                for _ in 0..<padding { buffer.append(32) }
            }
            column += w
        }
        flush()
        return column
    }

    /// Spaces in a role's style (backgrounds of bars and selected rows).
    func fill(y: Int, x: Int, width: Int, role: UIRole) {
        guard y >= 0, y < rows, x < cols, width > 0 else { return }
        let n = min(width, cols - x)
        put(String(repeating: " ", count: n), y: y, x: x, width: n, role: role)
    }

    func horizontalLine(y: Int, x: Int, width: Int, role: UIRole) {
        guard y >= 0, y < rows, x < cols, width > 0 else { return }
        let n = min(width, cols - x)
        if unicodeLines {
            put(String(repeating: "─", count: n), y: y, x: x, width: n, role: role)
            return
        }
        _ = dm_attrset(window, roleAttributes[role] ?? 0)
        _ = dm_hline(window, Int32(y), Int32(x), Int32(n))
    }

    func verticalLine(y: Int, x: Int, height: Int, role: UIRole) {
        guard x >= 0, x < cols, y < rows, height > 0 else { return }
        let n = min(height, rows - y)
        if unicodeLines {
            for row in max(y, 0)..<(y + n) { put("│", y: row, x: x, width: 1, role: role) }
            return
        }
        _ = dm_attrset(window, roleAttributes[role] ?? 0)
        _ = dm_vline(window, Int32(y), Int32(x), Int32(n))
    }

    // MARK: - Input

    /// Everything typed since the last call, decoded into keys (non-blocking).
    func readKeys() -> [Key] {
        var raw: [(isFunctionKey: Bool, code: UInt32)] = []
        while raw.count < 65536 {
            var ch: wint_t = 0
            let rc = dm_get_wch(window, &ch)
            if rc == dm_err() { break }
            raw.append((rc == dm_key_code_yes(), UInt32(ch)))
        }
        return Self.decode(raw)
    }

    static func decode(_ raw: [(isFunctionKey: Bool, code: UInt32)]) -> [Key] {
        var keys: [Key] = []
        var i = 0
        while i < raw.count {
            let (isFunctionKey, code) = raw[i]
            i += 1
            if isFunctionKey {
                if let key = functionKey(Int32(bitPattern: code)) { keys.append(key) }
                continue
            }
            switch code {
            case 27:
                // Alt+Enter arrives as ESC followed at once by CR or LF.
                if i < raw.count, !raw[i].isFunctionKey, raw[i].code == 13 || raw[i].code == 10 {
                    keys.append(.altEnter)
                    i += 1
                } else {
                    keys.append(.escape)
                }
            case 10, 13: keys.append(.enter)
            case 9: keys.append(.tab)
            case 127, 8: keys.append(.backspace)
            case 1...26: keys.append(.ctrl(Character(Unicode.Scalar(UInt8(code + 96)))))
            case 0, 28...31: break
            default:
                if let scalar = Unicode.Scalar(code) { keys.append(.char(Character(scalar))) }
            }
        }
        return keys
    }

    private static func functionKey(_ code: Int32) -> Key? {
        switch code {
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_BACKSPACE: return .backspace
        case KEY_DC: return .delete
        case KEY_ENTER: return .enter
        case KEY_BTAB: return .backTab
        case KEY_RESIZE: return .resize
        default: return nil
        }
    }
}
