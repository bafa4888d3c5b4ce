/// The `?` overlay's geometry, from the key table and the screen size alone: drawing uses it, and the input step
/// uses it to stop scrolling at the end. A framed box with the table's sections in two columns when they fit side
/// by side (split where the columns come out most even), else in one; the columns scroll together.
struct HelpLayout {
    enum Row: Equatable {
        case heading(String)
        case entry(keys: String, description: String)
        case blank
    }

    static let gap = 3

    let columns: [[Row]]
    /// Per column: the width of its keys, and the whole column's width.
    let keyWidths: [Int]
    let widths: [Int]
    let boxTop: Int, boxLeft: Int, boxWidth: Int, boxHeight: Int
    /// Content rows visible inside the frame.
    let visibleRows: Int

    var contentRows: Int { columns.map(\.count).max() ?? 0 }
    var maxScroll: Int { max(0, contentRows - visibleRows) }

    init(keyMap: KeyMap, screen: ScreenSize) {
        let sections = keyMap.helpSections()
        var columns = [Self.column(sections)]
        if sections.count >= 2 {
            let split = (1..<sections.count).min { a, b in
                Self.tallerColumn(sections, splitAt: a) < Self.tallerColumn(sections, splitAt: b)
            }!
            let pair = [Self.column(Array(sections[..<split])), Self.column(Array(sections[split...]))]
            if Self.width(of: pair) + 4 <= screen.cols - 2 { columns = pair }
        }
        self.columns = columns
        keyWidths = columns.map(Self.keyWidth)
        widths = zip(columns, keyWidths).map { rows, keys in rows.map { Self.rowWidth($0, keyColumn: keys) }.max() ?? 0 }
        let contentWidth = widths.reduce(0, +) + Self.gap * (widths.count - 1)
        boxWidth = min(screen.cols - 2, max(40, contentWidth + 4))
        boxHeight = min(screen.rows - 2, (columns.map(\.count).max() ?? 0) + 4)
        boxLeft = (screen.cols - boxWidth) / 2
        boxTop = max(0, (screen.rows - boxHeight) / 2)
        visibleRows = boxHeight - 4
    }

    private typealias Section = (title: String, entries: [(keys: String, description: String)])

    private static func column(_ sections: [Section]) -> [Row] {
        var rows: [Row] = []
        for section in sections {
            if !rows.isEmpty { rows.append(.blank) }
            rows.append(.heading(section.title))
            rows += section.entries.map { .entry(keys: $0.keys, description: $0.description) }
        }
        return rows
    }

    private static func tallerColumn(_ sections: [Section], splitAt index: Int) -> Int {
        max(column(Array(sections[..<index])).count, column(Array(sections[index...])).count)
    }

    private static func keyWidth(_ rows: [Row]) -> Int {
        rows.map { if case .entry(let keys, _) = $0 { return TextWidth.width(keys) } else { return 0 } }.max() ?? 0
    }

    private static func rowWidth(_ row: Row, keyColumn: Int) -> Int {
        switch row {
        case .heading(let title): return TextWidth.width(title)
        case .entry(_, let description): return keyColumn + 2 + TextWidth.width(description)
        case .blank: return 0
        }
    }

    private static func width(of columns: [[Row]]) -> Int {
        columns.map { rows in rows.map { rowWidth($0, keyColumn: keyWidth(rows)) }.max() ?? 0 }.reduce(0, +)
            + gap * (columns.count - 1)
    }
}
