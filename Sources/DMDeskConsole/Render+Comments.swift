import DMDeskCore
import Foundation

/// The comments view (`c`): one comment per two rows — whether it is answered, @username, the post, when; then its
/// text, sanitised like any message (control characters and escapes made visible, never written to the terminal).
extension ConsoleController {
    func drawComments(x: Int, y: Int, width: Int, height: Int) {
        let comments = model.inbox.comments
        let header = " Comments under your posts — p reply privately (DM) · P reply publicly · c back to threads"
        screen.put(TextWidth.truncate(header, to: width), y: y, x: x, width: width, role: .muted)
        guard !comments.isEmpty else {
            screen.put("No comments yet (subscribe to the `comments` webhook field).", y: y + 2, x: x + 2, width: width - 3, role: .muted)
            return
        }
        let capacity = max(1, (height - 1) / 2)
        let selected = model.inbox.selectedCommentIndex
        let top = max(0, selected - capacity + 1)
        let now = nowMillis()
        for row in 0..<capacity {
            let index = top + row
            guard index < comments.count else { break }
            drawComment(comments[index], x: x, y: y + 1 + row * 2, width: width, isSelected: index == selected, now: now)
        }
        if comments.count > capacity {
            let hint = " \(selected + 1)/\(comments.count) "
            let w = TextWidth.width(hint)
            screen.put(hint, y: y + height - 1, x: x + width - w, width: w, role: .muted)
        }
    }

    private func drawComment(_ c: CommentView, x: Int, y: Int, width: Int, isSelected: Bool, now: EpochMillis) {
        if isSelected {
            screen.fill(y: y, x: x, width: width, role: .selection)
            screen.fill(y: y + 1, x: x, width: width, role: .selection)
        }
        screen.put(isSelected ? "›" : " ", y: y, x: x, width: 1, role: isSelected ? .selection : .operator)
        let badge: String
        switch c.answer {
        case .none: badge = " NEW  "
        case .private: badge = " ✓ DM "
        case .public: badge = " ✓ PUB"
        case .both: badge = " ✓ ALL"
        }
        let badgeWidth = TextWidth.width(badge)
        screen.put(badge, y: y, x: x + 1, width: badgeWidth, role: c.answer == .none ? .badgeHuman : .badgeBot)
        let who = "@" + Sanitizer.visible(c.fromUsername ?? c.fromId, newlines: .space)
        let post = "post " + Sanitizer.visible(String((c.mediaId ?? "?").suffix(8)), newlines: .space)
        let time = TimeFormat.relative(c.timestamp, now: now)
        var px = x + 2 + badgeWidth
        px += screen.put(TextWidth.truncate(who, to: max(1, width / 3)) + "  ", y: y, x: px, width: max(1, x + width - px), role: isSelected ? .selection : .unread)
        px += screen.put(post, y: y, x: px, width: max(0, x + width - px - TextWidth.width(time) - 1), role: isSelected ? .selection : .muted)
        screen.put(time, y: y, x: x + width - TextWidth.width(time), width: TextWidth.width(time), role: isSelected ? .selection : .muted)
        let text = Sanitizer.visible(c.text ?? "", newlines: .space)
        let textX = x + 2 + badgeWidth
        screen.put(TextWidth.truncate(text, to: max(1, width - (textX - x) - 1)), y: y + 1, x: textX, width: max(1, width - (textX - x) - 1),
                   role: isSelected ? .selection : .list)
    }
}
