import DMDeskCore
import Foundation

/// A run of text in one style.
struct Segment: Equatable {
    var text: String
    var role: UIRole
    /// An OSC 8 target (checked by `Hyperlink.target`) for this text, a sanitised URL.
    var link: String?
    init(_ text: String, _ role: UIRole, link: String? = nil) {
        self.text = text
        self.role = role
        self.link = link
    }
}

/// One screen row of the conversation pane.
struct ConversationLine: Equatable {
    var segments: [Segment]
    /// Index into the open thread's messages (nil for day separators).
    var messageIndex: Int?
}

/// Lays out one message as conversation rows. Pure: the same message and width give the same rows.
enum MessageLayout {
    static let clockWidth = 5

    static func labelWidth(paneWidth: Int) -> Int { min(10, max(3, paneWidth / 8)) }
    static func prefixWidth(paneWidth: Int) -> Int { clockWidth + 1 + labelWidth(paneWidth: paneWidth) + 1 }

    static func role(for author: MessageAuthor) -> UIRole {
        switch author {
        case .customer: return .customer
        case .bot: return .bot
        case .operator: return .operator
        case .system: return .system
        }
    }

    static func label(for message: MessageView, customerName: String) -> String {
        switch message.author {
        case .customer: return customerName
        case .bot: return "bot"
        case .operator: return "you"
        case .system: return "·"
        }
    }

    static func lines(for message: MessageView, customerName: String, seen: Bool, width: Int, now: EpochMillis = nowMillis())
        -> [[Segment]]
    {
        let prefix = prefixWidth(paneWidth: width)
        let textWidth = max(8, width - prefix)
        let role = role(for: message.author)
        var body: [[Segment]] = []
        func addWrapped(_ text: String, _ role: UIRole) {
            for line in TextWidth.wrap(text, width: textWidth) { body.append([Segment(line, role)]) }
        }
        func addNote(_ text: String) { body.append([Segment(TextWidth.truncate(text, to: textWidth), .muted)]) }
        // Links (story and attachment URLs) take one row each, cut at the pane's edge: wrapped across
        // rows they are neither readable nor copyable, and the scheme adds nothing. A link that passes the
        // strict check is also an OSC 8 hyperlink, whole even when its text is cut.
        func addLink(_ label: String, _ url: String?) {
            guard let url, !url.isEmpty else { addNote(label + " (no link)"); return }
            let shown = Sanitizer.visible(url, newlines: .space)
            let room = textWidth - TextWidth.width(label) - 1
            if room < 12 {
                addWrapped(label + " " + shown, .muted)
            } else {
                body.append([Segment(label + " ", .muted), Segment(TextWidth.truncate(shown, to: room), .muted, link: Hyperlink.target(for: url))])
            }
        }
        let kind = message.kind ?? .text
        let storyExpired = message.storyExpiresAt.map { now >= $0 } ?? false
        if message.deleted {
            addNote("⊘ " + unsentMessageLabel)
        } else {
            if message.replyToMid != nil {
                if message.replyToUnsent == true { addNote("↩ replying to a message that was unsent") }
                else if let quoted = message.replyToText { addNote("↩ “" + Sanitizer.visible(quoted, newlines: .space) + "”") }
                else { addNote("↩ replying to an earlier message") }
            }
            if let story = message.replyToStory {
                if storyExpired { addNote("↪ replied to your story · story expired") } else { addLink("↪ replied to your story", story) }
            }
            if let text = message.text, !text.isEmpty {
                body += linkedRows(Sanitizer.visible(text), role: role, width: textWidth)
            }
            for attachment in message.attachments {
                let label = "[" + Sanitizer.visible(MessageKind.label(forAttachmentType: attachment.type), newlines: .space) + "]"
                if attachment.type == "story_mention" {
                    addNote(label + " mentioned you in their story" + (storyExpired ? " · story expired" : ""))
                    if !storyExpired { addLink("  story", attachment.url) }
                } else {
                    addLink(label, attachment.url)
                }
                if let title = attachment.title, !title.isEmpty { addNote("  “" + Sanitizer.visible(title, newlines: .space) + "”") }
            }
            if kind == .unsupported {
                addNote("[unsupported message: Instagram does not pass it on; see it in the Instagram app]")
            }
            if let payload = message.payload, !payload.isEmpty, message.direction == .inbound {
                addNote((kind == .postback ? "[button: " : "[quick reply: ") + Sanitizer.visible(payload, newlines: .space) + "]")
            }
        }
        if body.isEmpty { body.append([Segment("(empty message)", .muted)]) }

        // Delivery and edit marks go after the text when they fit, else on their own rows.
        var marks: [Segment] = []
        if message.edited { marks.append(Segment(" (edited)", .muted)) }
        switch message.delivery {
        case .sent?: marks.append(Segment(seen ? " ✓ seen" : " ✓", .muted))
        case .pending?: marks.append(Segment(" …", .muted))
        case .failed?: marks.append(Segment(" ✗ failed: " + Sanitizer.visible(message.error ?? "unknown error", newlines: .space), .error))
        case nil: break
        }
        if !marks.isEmpty {
            let lastWidth = body[body.count - 1].reduce(0) { $0 + TextWidth.width($1.text) }
            let marksWidth = marks.reduce(0) { $0 + TextWidth.width($1.text) }
            if lastWidth + marksWidth <= textWidth {
                body[body.count - 1].append(contentsOf: marks)
            } else {
                for mark in marks {
                    for line in TextWidth.wrap(String(mark.text.drop(while: { $0 == " " })), width: textWidth) {
                        body.append([Segment(line, mark.role)])
                    }
                }
            }
        }
        if !message.reactions.isEmpty {
            body.append([Segment(message.reactions.map { ReactionChoice.symbol(for: $0) }.joined(separator: " "), .error)])
        }

        let labelWidth = labelWidth(paneWidth: width)
        let clock = Segment(TimeFormat.clock(message.timestamp) + " ", .muted)
        let name = Segment(TextWidth.fit(label(for: message, customerName: customerName), to: labelWidth) + " ",
                           message.author == .system ? .system : role)
        let blank = String(repeating: " ", count: prefix)
        return body.enumerated().map { index, segments in
            (index == 0 ? [clock, name] : [Segment(blank, .list)]) + segments
        }
    }
}

extension MessageLayout {
    /// `text` wrapped, with each URL in it (or the part of one a row holds) an OSC 8 link to the whole URL. Rows are
    /// found in the text in order: wrapping only drops the spaces it breaks at.
    static func linkedRows(_ text: String, role: UIRole, width: Int) -> [[Segment]] {
        let rows = TextWidth.wrap(text, width: width)
        let urls = LinkFinder.ranges(in: text).compactMap { range in Hyperlink.target(for: String(text[range])).map { (range, $0) } }
        guard !urls.isEmpty else { return rows.map { [Segment($0, role)] } }
        var cursor = text.startIndex
        return rows.map { row in
            guard !row.isEmpty, let found = text.range(of: row, range: cursor..<text.endIndex) else { return [Segment(row, role)] }
            cursor = found.upperBound
            var segments: [Segment] = []
            var at = found.lowerBound
            for (range, target) in urls where range.overlaps(found) {
                let start = max(range.lowerBound, found.lowerBound), end = min(range.upperBound, found.upperBound)
                if at < start { segments.append(Segment(String(text[at..<start]), role)) }
                segments.append(Segment(String(text[start..<end]), role, link: target))
                at = end
            }
            if at < found.upperBound { segments.append(Segment(String(text[at..<found.upperBound]), role)) }
            return segments
        }
    }

    /// A row with what finding matched drawn in the match style; only the message's own text is looked in, not the
    /// clock, the name or the marks.
    static func highlighting(_ query: String, in row: [Segment]) -> [Segment] {
        var out: [Segment] = []
        for segment in row {
            guard [.customer, .bot, .operator, .muted].contains(segment.role), segment.link == nil else { out.append(segment); continue }
            let text = segment.text
            var at = text.startIndex
            for range in ThreadFind.ranges(of: query, in: text) {
                if at < range.lowerBound { out.append(Segment(String(text[at..<range.lowerBound]), segment.role)) }
                out.append(Segment(String(text[range]), .match))
                at = range.upperBound
            }
            if at < text.endIndex || at == text.startIndex { out.append(Segment(String(text[at...]), segment.role)) }
        }
        return out
    }
}

/// Rows of each message, kept between frames: only changed messages (or a new width) are laid out again.
struct MessageRenderCache {
    private struct Entry {
        var message: MessageView
        var width: Int
        var seen: Bool
        var name: String
        var storyExpired: Bool
        var lines: [[Segment]]
    }

    private var entries: [String: Entry] = [:]

    mutating func lines(for message: MessageView, customerName: String, seen: Bool, width: Int, now: EpochMillis = nowMillis())
        -> [[Segment]]
    {
        let key = message.thread + "\u{0}" + message.id
        let storyExpired = message.storyExpiresAt.map { now >= $0 } ?? false
        if let entry = entries[key], entry.width == width, entry.seen == seen, entry.name == customerName,
           entry.storyExpired == storyExpired, entry.message == message
        {
            return entry.lines
        }
        let lines = MessageLayout.lines(for: message, customerName: customerName, seen: seen, width: width, now: now)
        if entries.count > 20_000 { entries.removeAll(keepingCapacity: true) }
        entries[key] = Entry(message: message, width: width, seen: seen, name: customerName, storyExpired: storyExpired, lines: lines)
        return lines
    }
}

// MARK: - Drawing

/// Drawing reads the model and never changes it; what a frame settles (the conversation's scroll position, which
/// depends on how messages wrap) is returned for the model to keep.
extension ConsoleController {
    private var isTwoPane: Bool { screenSize.isTwoPane }

    /// Draws one frame; returns where the conversation pane ended up, if it was drawn.
    func render() -> ConversationPlacement? {
        screen.beginFrame()
        let rows = screen.rows, cols = screen.cols
        var cursor: (y: Int, x: Int)? = nil
        var placement: ConversationPlacement? = nil
        if rows < 6 || cols < 24 {
            screen.put("Terminal too small (\(cols)×\(rows)).", y: 0, x: 0, width: cols, role: .error)
            screen.endFrame(cursor: nil)
            return nil
        }
        drawTitleBar(width: cols)
        let banner = Self.banner(for: model.inbox.status)
        if let banner {
            screen.fill(y: 1, x: 0, width: cols, role: .error)
            screen.put(banner, y: 1, x: 0, width: cols, role: .error)
        }
        let bodyTop = banner == nil ? 1 : 2
        let bodyHeight = screenSize.bodyHeight
        if model.inbox.showingComments {
            drawComments(x: 0, y: bodyTop, width: cols, height: bodyHeight)  // Render+Comments.swift
        } else if isTwoPane {
            let listWidth = screenSize.listWidth
            drawThreadList(x: 0, y: bodyTop, width: listWidth, height: bodyHeight)
            screen.verticalLine(y: bodyTop, x: listWidth, height: bodyHeight, role: .border)
            (cursor, placement) = drawConversation(x: listWidth + 1, y: bodyTop, width: cols - listWidth - 1, height: bodyHeight)
        } else if model.inbox.focus == .list || model.inbox.openThreadID == nil {
            drawThreadList(x: 0, y: bodyTop, width: cols, height: bodyHeight)
        } else {
            (cursor, placement) = drawConversation(x: 0, y: bodyTop, width: cols, height: bodyHeight)
        }
        if let promptCursor = drawNoticeLine(y: rows - 2, width: cols) { cursor = promptCursor }
        drawStatusBar(y: rows - 1, width: cols)
        if model.mode == .help {
            drawHelp()
            cursor = nil
        } else if model.mode == .searchResults {
            drawSearchResults(top: bodyTop, height: bodyHeight)
            cursor = nil
        } else if model.mode == .linkList {
            drawLinkList(top: bodyTop, height: bodyHeight)
            cursor = nil
        }
        screen.endFrame(cursor: cursor)
        return placement
    }

    /// The first of the last `unread` customer messages: where the "new" line goes (nil when none were unread).
    static func firstUnreadIndex(_ messages: [MessageView], unread: Int) -> Int? {
        guard unread > 0 else { return nil }
        var left = unread
        for index in messages.indices.reversed() where messages[index].direction == .inbound && !messages[index].id.hasPrefix("step:") {
            left -= 1
            if left == 0 { return index }
        }
        return messages.firstIndex { $0.direction == .inbound }
    }

    /// A line under the title bar on every console while something stops replies from reaching customers.
    static func banner(for status: DaemonStatus?) -> String? {
        guard let status, status.token == "invalid" else { return nil }
        let why = status.tokenError.map { " · Meta: " + Sanitizer.visible($0, newlines: .space) } ?? ""
        // What, what it means, the fix first: on a narrow terminal the end is cut.
        return " ⚠ Instagram refused the access token: replies stopped. Run dmdesk token refresh, "
            + "or set a new INSTAGRAM_ACCESS_TOKEN and restart" + why
    }

    private func drawTitleBar(width: Int) {
        screen.fill(y: 0, x: 0, width: width, role: .title)
        var left = " dmdesk"
        if let account = model.inbox.hello?.account, !account.isEmpty {
            left += "  ·  account " + Sanitizer.visible(account, newlines: .space)
        }
        if let open = model.inbox.openThreadID, let thread = model.inbox.threads[open], !isTwoPane && model.inbox.focus == .conversation {
            left += " · " + Sanitizer.visible(thread.displayName, newlines: .space)
        }
        var right = model.inbox.filter.isEmpty ? "? help " : "filter: \(Sanitizer.visible(model.inbox.filter, newlines: .space))  ·  ? help "
        if width < 50 { right = "" }
        let rightWidth = TextWidth.width(right)
        screen.put(left, y: 0, x: 0, width: width - rightWidth - 1, role: .title)
        screen.put(right, y: 0, x: width - rightWidth, width: rightWidth, role: .title)
    }

    // MARK: Thread list

    private func drawThreadList(x: Int, y: Int, width: Int, height: Int) {
        let ids = model.inbox.visibleThreadIDs
        // The same page PgUp/PgDn moves by; the bottom row may be kept for the position hint.
        let capacity = screenSize.listCapacity(threadCount: ids.count)
        if ids.isEmpty {
            let text: String
            let loading = pending.values.contains { if case .threads = $0 { return true } else { return false } }
            if model.inbox.connection != .connected && model.inbox.threads.isEmpty { text = "Waiting for the daemon…" }
            else if loading { text = "Loading threads…" }
            else if !model.inbox.filter.isEmpty { text = "No threads match “\(Sanitizer.visible(model.inbox.filter, newlines: .space))”. Esc clears." }
            else if !model.inbox.snoozedThreadIDs.isEmpty {
                text = "Nothing else: \(model.inbox.snoozedThreadIDs.count) snoozed (Z shows them)."
            }
            else { text = "No conversations yet." }
            screen.put(text, y: y + 1, x: x + 2, width: width - 3, role: .muted)
            return
        }
        let selected = model.inbox.selectedThreadIndex ?? 0
        if selected < listTop { listTop = selected }
        if selected >= listTop + capacity { listTop = selected - capacity + 1 }
        listTop = max(0, min(listTop, max(0, ids.count - capacity)))
        let now = nowMillis()
        for row in 0..<capacity {
            let index = listTop + row
            guard index < ids.count, let thread = model.inbox.threads[ids[index]] else { break }
            drawThreadRow(thread, x: x, y: y + row * 2, width: width, isSelected: index == selected, now: now)
        }
        if ids.count > capacity {  // a scroll position hint in the corner
            let hint = " \(selected + 1)/\(ids.count) "
            let w = TextWidth.width(hint)
            screen.put(hint, y: y + height - 1, x: x + width - w, width: w, role: .muted)
        }
    }

    private func drawThreadRow(_ thread: ThreadSummary, x: Int, y: Int, width: Int, isSelected: Bool, now: EpochMillis) {
        let highlight = isSelected && (model.inbox.focus == .list || !isTwoPane)
        if highlight {
            screen.fill(y: y, x: x, width: width, role: .selection)
            screen.fill(y: y + 1, x: x, width: width, role: .selection)
        }
        // Line 1: open marker, mode badge, name, unread count, time.
        let isOpen = thread.id == model.inbox.openThreadID
        screen.put(isOpen ? "▌" : (isSelected ? "›" : " "), y: y, x: x, width: 1, role: highlight ? .selection : .operator)
        let badge = thread.mode == .human ? " YOU " : " BOT "
        screen.put(badge, y: y, x: x + 1, width: 5, role: thread.mode == .human ? .badgeHuman : .badgeBot)
        let time = TimeFormat.relative(thread.lastAt, now: now)
        let unread = thread.unread > 0 ? "●\(thread.unread) " : ""
        let rightWidth = TextWidth.width(unread) + TextWidth.width(time) + 1
        let nameX = x + 7
        let nameWidth = max(1, width - 7 - rightWidth)
        let name = Sanitizer.visible(thread.displayName, newlines: .space)
        screen.put(TextWidth.truncate(name, to: nameWidth), y: y, x: nameX, width: nameWidth,
                   role: highlight ? .selection : (thread.unread > 0 ? .unread : .list))
        var rx = x + width - rightWidth
        rx += screen.put(unread, y: y, x: rx, width: TextWidth.width(unread), role: highlight ? .selection : .unread)
        screen.put(time, y: y, x: rx, width: TextWidth.width(time), role: highlight ? .selection : .muted)

        // Line 2: flags/status, preview, 24-hour window.
        var px = nameX
        let window = TimeFormat.window(thread, now: now)
        let windowWidth = TextWidth.width(window) + 1
        let previewEnd = x + width - windowWidth
        if thread.awaitingOperator && thread.status == .open {
            px += screen.put("⚑ needs you ", y: y + 1, x: px, width: previewEnd - px, role: highlight ? .selection : .error)
        }
        switch thread.status {
        case .resolved: px += screen.put("✓ resolved · ", y: y + 1, x: px, width: previewEnd - px, role: highlight ? .selection : .muted)
        case .snoozed:
            let until = thread.snoozedUntil.map { "till " + SnoozeTime.describe($0, now: now) } ?? "till they write"
            px += screen.put("◷ snoozed \(until) · ", y: y + 1, x: px, width: previewEnd - px, role: highlight ? .selection : .muted)
        case .open:
            if thread.snoozeEndedAt != nil {
                px += screen.put("⏰ back from snooze · ", y: y + 1, x: px, width: previewEnd - px, role: highlight ? .selection : .unread)
            }
        }
        let preview = Sanitizer.visible(thread.lastText ?? "", newlines: .space)
        screen.put(TextWidth.truncate(preview, to: previewEnd - px - 1), y: y + 1, x: px, width: previewEnd - px - 1,
                   role: highlight ? .selection : (thread.unread > 0 ? .list : .muted))
        screen.put(window, y: y + 1, x: x + width - windowWidth + 1, width: windowWidth - 1,
                   role: highlight ? .selection : (window == "closed" ? .error : .muted))
    }

    // MARK: Conversation

    /// Draws the conversation pane; returns where the terminal cursor belongs when composing, and where the messages
    /// ended up (nil with none to show).
    private func drawConversation(x: Int, y: Int, width: Int, height: Int)
        -> (cursor: (y: Int, x: Int)?, placement: ConversationPlacement?)
    {
        guard let threadID = model.inbox.openThreadID, let thread = model.inbox.threads[threadID] else {
            let hint = model.inbox.visibleThreadIDs.isEmpty ? "" : "Select a conversation and press Enter."
            screen.put(hint, y: y + height / 2, x: x + max(1, (width - TextWidth.width(hint)) / 2), width: width - 2, role: .muted)
            return (nil, nil)
        }
        // Header: name, @username, mode, status, window.
        let name = Sanitizer.visible(thread.displayName, newlines: .space)
        var hx = x + 1
        hx += screen.put(name, y: y, x: hx, width: width - 2, role: .unread)
        if let username = thread.username, !username.isEmpty, thread.name?.isEmpty == false {
            hx += screen.put("  @" + Sanitizer.visible(username, newlines: .space), y: y, x: hx, width: x + width - hx, role: .muted)
        }
        hx += 2
        let badge = thread.mode == .human ? " YOU " : " BOT "
        hx += screen.put(badge, y: y, x: hx, width: x + width - hx, role: thread.mode == .human ? .badgeHuman : .badgeBot)
        let clocks = TimeFormat.windowClocks(thread, humanAgentTag: model.inbox.hello?.humanAgentTag ?? false)
        var info = "  \(thread.status.rawValue) · " + clocks.text
        if let assignee = thread.assignee, !assignee.isEmpty, thread.mode == .human { info += " · " + Sanitizer.visible(assignee, newlines: .space) }
        screen.put(info, y: y, x: hx, width: x + width - hx, role: clocks.closed ? .error : .muted)
        screen.horizontalLine(y: y + 1, x: x, width: width, role: .border)

        // Compose area at the bottom.
        let draft = model.drafts[threadID] ?? LineEditor()
        let composing = model.mode == .compose
        let draftRows = model.draftRows(thread: threadID)
        let composeTop = y + height - draftRows - 1
        let cursor = drawCompose(thread: thread, draft: draft, composing: composing, x: x, y: composeTop, width: width, rows: draftRows)

        // Messages between header and compose (as many rows as `ScreenSize.conversationHeight`, PgUp's page).
        let top = y + 2
        let messageHeight = max(1, composeTop - top)
        let placement = drawMessages(threadID: threadID, thread: thread, x: x, y: top, width: width, height: messageHeight)
        return (cursor, placement)
    }

    private func drawMessages(threadID: String, thread: ThreadSummary, x: Int, y: Int, width: Int, height: Int)
        -> ConversationPlacement?
    {
        let messages = model.inbox.openMessages
        if messages.isEmpty {
            let text = model.inbox.history[threadID] == .loading ? "Loading…" : "No messages yet."
            screen.put(text, y: y, x: x + 1, width: width - 2, role: .muted)
            return nil
        }
        let innerWidth = width - 1
        let customerName = Sanitizer.visible(thread.name?.split(separator: " ").first.map(String.init) ?? thread.displayName, newlines: .space)
        var lines: [ConversationLine] = []
        var selectedRange: Range<Int>? = nil
        let selectedIndex = model.inbox.selectedMessageIndex
        var lastDay = -1
        if model.inbox.history[threadID] == .loaded(hasOlder: true) {
            lines.append(ConversationLine(segments: [Segment("  ↑ older messages: g or PgUp at the top loads them", .muted)], messageIndex: nil))
        }
        let firstUnread = Self.firstUnreadIndex(messages, unread: model.unreadWhenOpened[threadID] ?? 0)
        let find = model.find?.thread == threadID ? model.find : nil
        for (index, message) in messages.enumerated() {
            let day = TimeFormat.day(message.timestamp)
            if day.key != lastDay {
                lastDay = day.key
                let label = " \(day.label) "
                let side = max(0, (innerWidth - TextWidth.width(label)) / 2)
                let rule = String(repeating: "─", count: side)
                lines.append(ConversationLine(segments: [Segment(rule + label + rule, .border)], messageIndex: nil))
            }
            if index == firstUnread {
                let label = " new "
                let side = max(0, (innerWidth - TextWidth.width(label)) / 2)
                let rule = String(repeating: "╌", count: side)
                lines.append(ConversationLine(segments: [Segment(rule + label + rule, .unread)], messageIndex: nil))
            }
            let start = lines.count
            var rows = renderCache.lines(for: message, customerName: customerName, seen: model.inbox.isSeen(message), width: innerWidth)
            if let find, find.matches(message) {
                rows = rows.enumerated().map { $0.offset == 0 ? $0.element : MessageLayout.highlighting(find.query, in: $0.element) }
                if let first = rows.first, first.count > 2 {
                    rows[0] = Array(first.prefix(2)) + MessageLayout.highlighting(find.query, in: Array(first.dropFirst(2)))
                }
            }
            for row in rows { lines.append(ConversationLine(segments: row, messageIndex: index)) }
            if index == selectedIndex { selectedRange = start..<lines.count }
        }
        // Scrolled up, the bottom row belongs to the "↓ N more" hint: messages stop above it, so neither
        // covers the other whatever the width, the count or the characters in the row.
        let hintRow = height >= 2
        func messageRows(scroll: Int) -> Int { scroll > 0 && hintRow ? height - 1 : height }
        let maxScroll = max(0, lines.count - height)
        var conversationScroll = model.conversationScroll
        var selectionShown = false
        if model.keepSelectedMessageVisible, let range = selectedRange {
            // Scroll just enough that the highlighted message is on screen (above the hint row).
            let firstVisible = lines.count - height - conversationScroll
            if range.lowerBound < firstVisible {
                conversationScroll = lines.count - height - range.lowerBound
            } else if range.upperBound > firstVisible + messageRows(scroll: conversationScroll) {
                let below = lines.count - range.upperBound
                conversationScroll = below > 0 && hintRow ? below - 1 : below
            }
            selectionShown = true
        }
        conversationScroll = max(0, min(conversationScroll, maxScroll))
        let first = max(0, lines.count - height - conversationScroll)
        let rows = min(messageRows(scroll: conversationScroll), lines.count - first)
        let highlightSelection = model.inbox.focus == .conversation || !isTwoPane
        for row in 0..<rows {
            let line = lines[first + row]
            var cx = x + 1
            for (segmentIndex, segment) in line.segments.enumerated() {
                var role = segment.role
                let isPrefix = segmentIndex == 0 || (segmentIndex == 1 && line.segments[0].role == .muted)
                if isPrefix, highlightSelection, line.messageIndex != nil, line.messageIndex == selectedIndex,
                   model.mode != .compose
                {
                    role = .selection
                }
                cx += screen.putLink(segment.text, target: segment.link, y: y + row, x: cx, width: x + width - cx, role: role)
            }
        }
        if conversationScroll > 0 && hintRow {
            let hint = Self.moreBelowHint(count: lines.count - first - rows, width: width - 2)
            let w = TextWidth.width(hint)
            screen.put(hint, y: y + height - 1, x: x + width - w - 1, width: w, role: .selection)
        }
        return ConversationPlacement(scroll: conversationScroll, selectionShown: selectionShown,
                                     showsOldest: conversationScroll == maxScroll)
    }

    /// The longest form of "↓ N more" that fits in `width` columns: it is never cut mid-word.
    static func moreBelowHint(count: Int, width: Int) -> String {
        for hint in [" ↓ \(count) more ", " ↓ \(count) ", "↓\(count)", "↓"] where TextWidth.width(hint) <= width {
            return hint
        }
        return ""
    }

    private func drawCompose(thread: ThreadSummary, draft: LineEditor, composing: Bool, x: Int, y: Int, width: Int,
                             rows: Int) -> (y: Int, x: Int)?
    {
        screen.horizontalLine(y: y, x: x, width: width, role: .border)
        if !composing && draft.isEmpty {
            let hints: [(key: String, label: String)] = thread.mode == .human
                ? [("r", "reply"), ("a", "hand back to bot"), ("e", "react"), ("n", "notify manager"), ("x", "resolve"), ("?", "help")]
                : [("t", "take over"), ("r", "reply"), ("e", "react"), ("n", "notify manager"), ("x", "resolve"), ("?", "help")]
            drawKeyHints(hints, y: y + 1, x: x + 1, width: width - 1)
            return nil
        }
        let bytes = draft.byteCount
        let counter = " \(bytes)/\(maxMessageBytes) "
        let title = composing ? " Reply to \(Sanitizer.visible(thread.displayName, newlines: .space)) " : " Draft · r to continue "
        let counterWidth = TextWidth.width(counter)
        let titleWidth = max(0, min(TextWidth.width(title), width - counterWidth - 3))
        screen.put(TextWidth.truncate(title, to: titleWidth), y: y, x: x + 1, width: titleWidth,
                              role: composing ? .title : .muted)
        let counterX = x + width - counterWidth - 1
        screen.put(counter, y: y, x: counterX, width: counterWidth, role: bytes > maxMessageBytes ? .error : .muted)

        let layout = draft.layout()
        let fieldWidth = max(2, width - 2)
        let firstLine = max(0, min(layout.cursorLine - rows + 1, layout.lines.count - rows))
        let offset = LineEditor.scrollOffset(cursorColumn: layout.cursorColumn, width: fieldWidth)
        for row in 0..<rows {
            screen.fill(y: y + 1 + row, x: x, width: width, role: .compose)
            let lineIndex = firstLine + row
            guard lineIndex < layout.lines.count else { continue }
            let lineOffset = lineIndex == layout.cursorLine ? offset : 0
            // Control characters cannot be typed in (key decoding drops them) and zero-width ones
            // are skipped by `put`, so the draft is drawn as is.
            let visible = LineEditor.visibleSlice(layout.lines[lineIndex], offset: lineOffset, width: fieldWidth)
            screen.put(visible, y: y + 1 + row, x: x + 1, width: fieldWidth, role: .compose)
        }
        guard composing else { return nil }
        return (y + 1 + layout.cursorLine - firstLine, x + 1 + layout.cursorColumn - offset)
    }

    /// "key label · key label" with the keys emphasised, cut before a pair that would not fit whole.
    private func drawKeyHints(_ hints: [(key: String, label: String)], y: Int, x: Int, width: Int) {
        var cx = x
        let end = x + width
        for (index, hint) in hints.enumerated() {
            let separator = index == 0 ? "" : "  "
            let needed = TextWidth.width(separator) + TextWidth.width(hint.key) + 1 + TextWidth.width(hint.label)
            guard cx + needed <= end else { break }
            cx += screen.put(separator, y: y, x: cx, width: end - cx, role: .muted)
            cx += screen.put(hint.key, y: y, x: cx, width: end - cx, role: .hintKey)
            cx += screen.put(" " + hint.label, y: y, x: cx, width: end - cx, role: .muted)
        }
    }

    // MARK: Bottom lines

    /// The message line: a prompt, the quit question, the reaction picker, or the latest notice.
    private func drawNoticeLine(y: Int, width: Int) -> (y: Int, x: Int)? {
        switch model.mode {
        case .prompt(let kind):
            let label = kind.label(for: model.prompt.text)
            let labelWidth = screen.put(label, y: y, x: 0, width: width, role: .title)
            let fieldWidth = max(2, width - labelWidth - 1)
            screen.fill(y: y, x: labelWidth, width: width - labelWidth, role: .compose)
            let layout = model.prompt.layout()
            let offset = LineEditor.scrollOffset(cursorColumn: layout.cursorColumn, width: fieldWidth)
            let text = LineEditor.visibleSlice(layout.lines[layout.cursorLine], offset: offset, width: fieldWidth)
            screen.put(text, y: y, x: labelWidth, width: fieldWidth, role: .compose)
            return (y, labelWidth + layout.cursorColumn - offset)
        case .compose where model.inbox.notice?.isError != true:
            drawKeyHints([("Enter", "send"), ("Alt+Enter", "new line"), ("Esc", "close, keep the draft"),
                          ("Ctrl-W", "delete word"), ("Ctrl-U", "clear line")], y: y, x: 1, width: width - 1)
        case .confirmQuit:
            screen.put("A draft would be lost. Quit anyway? (y/n)", y: y, x: 0, width: width, role: .error)
        case .snoozePicker:
            let choices = SnoozeTime.presets.enumerated().map { "\($0.offset + 1) \($0.element.label)" } + ["r until they write", "t a time"]
            screen.put("Snooze: " + choices.joined(separator: "  ") + "  (Esc cancels)", y: y, x: 0, width: width, role: .title)
        case .reactPicker:
            let choices = ReactionChoice.allCases.enumerated().map { "\($0.offset + 1) \($0.element.symbol) \($0.element.rawValue)" }
            screen.put("React: " + choices.joined(separator: "  ") + "  (Esc cancels)", y: y, x: 0, width: width, role: .title)
        default:
            if let notice = model.inbox.notice {
                screen.put(Sanitizer.visible(notice.text, newlines: .space), y: y, x: 0, width: width,
                           role: notice.isError ? .error : .muted)
            }
        }
        return nil
    }

    private func drawStatusBar(y: Int, width: Int) {
        screen.fill(y: y, x: 0, width: width, role: .statusbar)
        var x = 0
        func add(_ text: String, _ role: UIRole = .statusbar) {
            x += screen.put(text, y: y, x: x, width: width - x, role: role)
        }
        switch model.inbox.connection {
        case .connected:
            add(" ● ", .statusGood)
        case .connecting:
            add(" connecting… ", .statusBad)
        case .reconnecting(let attempt):
            add(attempt > 0 ? " reconnecting… (try \(attempt)) " : " reconnecting… ", .statusBad)
        }
        let listener = model.inbox.status?.listener ?? model.inbox.hello?.listener
        if let listener { add(Sanitizer.visible(listener, newlines: .space)) }
        if let status = model.inbox.status {
            add(" │ redis ")
            add(status.redis, ["up", "ok", "connected"].contains(status.redis) ? .statusGood : .statusBad)
            add(" │ sqlite ")
            add(status.sqlite, ["ok", "up"].contains(status.sqlite) ? .statusGood : .statusBad)
            add(" │ token ")
            add(status.token, ["ok", "valid", "set"].contains(status.token) ? .statusGood : .statusBad)
            if status.pendingOutbound > 0 { add(" │ \(status.pendingOutbound) sending") }
            if let hours = status.businessHours {
                add(" │ ")
                add(hours == "open" ? "open" : "closed · away text", hours == "open" ? .statusGood : .statusBad)
            }
            if let hooks = WebhookBadge.of(status, now: nowMillis()) {
                add(" │ ")
                add(hooks.text, hooks.good ? .statusbar : .statusBad)
            }
        }
        let unread = model.inbox.unreadThreadCount
        let counts = " \(model.inbox.threads.count) threads · \(unread) unread "
        let countsWidth = TextWidth.width(counts)
        if x + countsWidth < width {
            screen.put(counts, y: y, x: width - countsWidth, width: countsWidth, role: .statusbar)
        }
    }

    /// `S`'s results over the body: a framed box, one line a message (when, who, the words around the match with the
    /// matches marked), the highlighted one in the selection colour, scrolled to keep it in view.
    private func drawSearchResults(top: Int, height: Int) {
        let results = model.search
        let width = screen.cols, left = 0
        guard height >= 3 else { return }
        let title = " \(results.hits.count) message\(results.hits.count == 1 ? "" : "s") with “\(Sanitizer.visible(results.query, newlines: .space))” "
        drawOverlayFrame(top: top, height: height, title: title, footer: " Enter opens · j/k move · S searches again · any other key closes ")
        let rows = height - 2
        let first = max(0, min(results.selected - rows + 1, results.hits.count - rows))
        let now = nowMillis()
        for row in 0..<rows {
            let index = first + row
            guard index < results.hits.count else { break }
            let hit = results.hits[index]
            let y = top + 1 + row
            let selected = index == results.selected
            let base: UIRole = selected ? .selection : .help
            if selected { screen.fill(y: y, x: left + 1, width: width - 2, role: .selection) }
            var x = left + 2
            let limit = left + width - 2
            func add(_ text: String, _ role: UIRole) {
                guard x < limit else { return }
                x += screen.put(text, y: y, x: x, width: limit - x, role: role)
            }
            let who = hit.direction == .inbound
                ? (hit.name ?? hit.username.map { "@" + $0 } ?? hit.thread)
                : (hit.author == "operator" ? "you" : hit.author) + " → " + (hit.name ?? hit.thread)
            add(TextWidth.fit(TimeFormat.relative(hit.timestamp, now: now), to: 6) + " ", selected ? .selection : .helpKey)
            add(TextWidth.fit(Sanitizer.visible(who, newlines: .space), to: 22) + "  ", selected ? .selection : .helpKey)
            let scalars = Array(hit.snippet.unicodeScalars)
            var at = 0
            func piece(_ from: Int, _ to: Int) -> String {
                Sanitizer.visible(String(String.UnicodeScalarView(scalars[from..<to])), newlines: .space)
            }
            for range in hit.highlights where range.start >= at && range.start + range.length <= scalars.count {
                add(piece(at, range.start), base)
                add(piece(range.start, range.start + range.length), .helpHeading)
                at = range.start + range.length
            }
            add(piece(at, scalars.count), base)
        }
    }

    /// A box over the whole body, as the search results and the link list use.
    private func drawOverlayFrame(top: Int, height: Int, title: String, footer: String) {
        let width = screen.cols
        for row in 0..<height { screen.fill(y: top + row, x: 0, width: width, role: .help) }
        let horizontal = String(repeating: "─", count: max(0, width - 2))
        screen.put("┌" + horizontal + "┐", y: top, x: 0, width: width, role: .help)
        screen.put("└" + horizontal + "┘", y: top + height - 1, x: 0, width: width, role: .help)
        for row in 1..<(height - 1) {
            screen.put("│", y: top + row, x: 0, width: 1, role: .help)
            screen.put("│", y: top + row, x: width - 1, width: 1, role: .help)
        }
        screen.put(title, y: top, x: 2, width: width - 4, role: .title)
        let footerWidth = TextWidth.width(footer)
        if footerWidth + 4 < width {
            screen.put(footer, y: top + height - 1, x: width - footerWidth - 2, width: footerWidth, role: .help)
        }
    }

    /// `o`'s list: a number per link (1–9 copy with one key), its kind, who sent it and when, and the URL (a link
    /// itself, cut at the edge).
    private func drawLinkList(top: Int, height: Int) {
        guard let list = model.links, height >= 3 else { return }
        let width = screen.cols
        drawOverlayFrame(top: top, height: height, title: " \(list.links.count) link\(list.links.count == 1 ? "" : "s") in this conversation ",
                         footer: " 1–9 or Enter copies (OSC 52) · j/k move · any other key closes ")
        let rows = height - 2
        let first = max(0, min(list.selected - rows + 1, list.links.count - rows))
        let now = nowMillis()
        let numberWidth = String(list.links.count).count
        for row in 0..<rows {
            let index = first + row
            guard index < list.links.count else { break }
            let link = list.links[index]
            let y = top + 1 + row
            let selected = index == list.selected
            if selected { screen.fill(y: y, x: 1, width: width - 2, role: .selection) }
            var x = 2
            let limit = width - 2
            func add(_ text: String, _ role: UIRole, target: String? = nil) {
                guard x < limit else { return }
                x += screen.putLink(text, target: target, y: y, x: x, width: limit - x, role: role)
            }
            let who = link.author == .customer ? "customer" : (link.author == .operator ? "you" : link.author.rawValue)
            add(TextWidth.fit(String(index + 1), to: numberWidth) + "  ", selected ? .selection : .helpKey)
            add(TextWidth.fit(Sanitizer.visible(link.kind, newlines: .space), to: 14) + " ", selected ? .selection : .helpKey)
            add(TextWidth.fit(who + " " + TimeFormat.relative(link.timestamp, now: now), to: 16) + " ", selected ? .selection : .help)
            add(TextWidth.truncate(link.url, to: max(1, limit - x)), selected ? .selection : .help, target: link.url)
        }
    }

    /// The `?` overlay: a framed box with the key table (see `HelpLayout`), scrolled to `helpScroll`.
    private func drawHelp() {
        let layout = HelpLayout(keyMap: keyMap, screen: screenSize)
        let columns = layout.columns, keyColumns = layout.keyWidths, widths = layout.widths
        let left = layout.boxLeft, top = layout.boxTop, boxWidth = layout.boxWidth, boxHeight = layout.boxHeight
        let inner = layout.visibleRows, contentRows = layout.contentRows, gap = HelpLayout.gap
        let helpScroll = max(0, min(model.helpScroll, layout.maxScroll))  // the screen may have grown since

        // Frame.
        for row in 0..<boxHeight { screen.fill(y: top + row, x: left, width: boxWidth, role: .help) }
        let horizontal = String(repeating: "─", count: max(0, boxWidth - 2))
        screen.put("┌" + horizontal + "┐", y: top, x: left, width: boxWidth, role: .help)
        screen.put("└" + horizontal + "┘", y: top + boxHeight - 1, x: left, width: boxWidth, role: .help)
        for row in 1..<(boxHeight - 1) {
            screen.put("│", y: top + row, x: left, width: 1, role: .help)
            screen.put("│", y: top + row, x: left + boxWidth - 1, width: 1, role: .help)
        }
        screen.put(" dmdesk keys ", y: top, x: left + 2, width: boxWidth - 4, role: .title)

        // Columns.
        var cx = left + 2
        for (index, rowsOfColumn) in columns.enumerated() {
            let keyColumn = keyColumns[index]
            let columnWidth = min(widths[index], left + boxWidth - 2 - cx)
            guard columnWidth > 0 else { break }
            for row in 0..<inner {
                let i = helpScroll + row
                guard i < rowsOfColumn.count else { break }
                let y = top + 2 + row
                switch rowsOfColumn[i] {
                case .heading(let title):
                    screen.put(title, y: y, x: cx, width: columnWidth, role: .helpHeading)
                case .entry(let keys, let description):
                    screen.put(TextWidth.fit(keys, to: keyColumn), y: y, x: cx, width: columnWidth, role: .helpKey)
                    screen.put(description, y: y, x: cx + keyColumn + 2, width: columnWidth - keyColumn - 2, role: .help)
                case .blank:
                    break
                }
            }
            cx += widths[index] + gap
        }
        let footer = contentRows > inner ? " j/k scroll · any other key closes " : " any key closes "
        let footerWidth = TextWidth.width(footer)
        screen.put(footer, y: top + boxHeight - 1, x: left + boxWidth - footerWidth - 2, width: footerWidth, role: .help)
    }
}
