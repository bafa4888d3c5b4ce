import DMDeskCore
import Foundation

public enum Pane: Sendable, Equatable {
    case list, conversation
}

public enum ConnectionState: Sendable, Equatable {
    case connecting
    case connected
    /// The socket dropped; `attempt` counts reconnect tries so far.
    case reconnecting(attempt: Int)
}

public enum HistoryState: Sendable, Equatable {
    case loading
    case loaded(hasOlder: Bool)
}

/// A one-line note at the bottom of the screen (errors in red).
public struct Notice: Sendable, Equatable {
    public var text: String
    public var isError: Bool
    public var at: EpochMillis

    public init(_ text: String, isError: Bool, at: EpochMillis = nowMillis()) {
        self.text = text
        self.isError = isError
        self.at = at
    }
}

/// What applying a server line asks the app to do (the reducer itself performs no I/O).
public struct ApplyOutcome: Sendable, Equatable {
    /// A new inbound message in a thread a human is handling.
    public var ringBell = false
    /// The open thread got new inbound messages while the user is looking at it: send `mark_read`.
    public var markRead: String? = nil
    /// Something visible changed.
    public var changed = false

    public init(ringBell: Bool = false, markRead: String? = nil, changed: Bool = false) {
        self.ringBell = ringBell
        self.markRead = markRead
        self.changed = changed
    }
}

/// Everything the console knows, separate from drawing: a pure reducer over server lines and replies,
/// unit-testable without a terminal.
public struct ConsoleState: Sendable {
    public private(set) var threads: [String: ThreadSummary] = [:]
    /// All thread ids, most recent activity first. Kept sorted incrementally: one event moves one row.
    public private(set) var sortedThreadIDs: [String] = []
    /// `sortedThreadIDs` narrowed by `filter`.
    public private(set) var visibleThreadIDs: [String] = []
    /// Per thread, oldest first.
    public private(set) var messages: [String: [MessageView]] = [:]
    public var history: [String: HistoryState] = [:]
    /// Customer read receipts: our messages at or before this time were seen.
    public private(set) var readWatermarks: [String: EpochMillis] = [:]

    public var selectedThreadID: String?
    public var openThreadID: String?
    /// The highlighted message in the open thread; nil means "the newest", following new arrivals.
    public var selectedMessageID: String?
    public var focus: Pane = .list
    public private(set) var filter = ""

    public var status: DaemonStatus?
    public var hello: ServerLine?
    public var connection: ConnectionState = .connecting
    /// The last event `seq` seen; a reconnect subscribes with `since` = this.
    public var lastSeq: Int64 = 0
    public var notice: Notice?

    /// The comments view (`c`): comments under the account's posts, newest first (ConsoleState+Comments.swift).
    public var showingComments = false
    public internal(set) var comments: [CommentView] = []
    public var selectedCommentIndex = 0

    public init() {}

    // MARK: - Reducer

    /// Applies one line from the server. Replies to requests are routed by the app to the typed
    /// functions below (`loadThreads`, `loadHistory`, …); events and id-less errors land here.
    @discardableResult
    public mutating func apply(_ line: ServerLine) -> ApplyOutcome {
        switch line.type {
        case "hello":
            hello = line
            return ApplyOutcome(changed: true)
        case "error":
            if line.id == nil, let error = line.error {
                notice = Notice("daemon: \(error.message)", isError: true)
                return ApplyOutcome(changed: true)
            }
            return ApplyOutcome()
        case "event":
            if let seq = line.seq { lastSeq = max(lastSeq, seq) }
            return applyEvent(line)
        default:
            return ApplyOutcome()
        }
    }

    private mutating func applyEvent(_ line: ServerLine) -> ApplyOutcome {
        guard let event = line.event, let data = line.data else { return ApplyOutcome() }
        var outcome = ApplyOutcome(changed: true)
        switch event {
        case EventType.messageReceived, EventType.messageSent:
            guard let message = try? data.decode(MessageView.self) else { return ApplyOutcome() }
            let isNew = upsertMessage(message)
            touchThread(for: message, countUnread: isNew)
            if isNew && message.direction == .inbound {
                if threads[message.thread]?.mode == .human { outcome.ringBell = true }
                if message.thread == openThreadID { outcome.markRead = message.thread }
            }
        case EventType.messageUpdated:
            guard let message = try? data.decode(MessageView.self) else { return ApplyOutcome() }
            upsertMessage(message)
            if message.deleted { forgetQuotes(of: message) }
        case EventType.outboundUpdated:
            guard let outbound = try? data.decode(OutboundView.self) else { return ApplyOutcome() }
            applyOutbound(outbound)
        case EventType.threadUpdated:
            guard let summary = try? data.decode(ThreadSummary.self) else { return ApplyOutcome() }
            upsertThread(summary)
        case EventType.reaction:
            guard let thread = line.thread, let mid = data["mid"]?.stringValue else { return ApplyOutcome() }
            let reaction = data["reaction"]?.stringValue
            updateMessage(in: thread, where: { $0.mid == mid || $0.id == mid }) {
                $0.reactions = reaction.map { [$0] } ?? []
            }
        case EventType.read:
            guard let thread = line.thread else { return ApplyOutcome() }
            var watermark = data["watermark"]?.int64Value
            if watermark == nil, let mid = data["mid"]?.stringValue {
                watermark = messages[thread]?.last(where: { $0.mid == mid || $0.id == mid })?.timestamp
            }
            if let watermark { readWatermarks[thread] = max(readWatermarks[thread] ?? 0, watermark) }
        case EventType.daemonStatus:
            guard let status = try? data.decode(DaemonStatus.self) else { return ApplyOutcome() }
            self.status = status
        case EventType.agentStep:
            guard let step = try? data.decode(AgentStepView.self) else { return ApplyOutcome() }
            upsertMessage(step.line)
        case EventType.threadDeleted:
            guard let thread = line.thread else { return ApplyOutcome() }
            removeThread(thread)
        case EventType.commentReceived, EventType.commentUpdated:
            guard let comment = try? data.decode(CommentView.self) else { return ApplyOutcome() }
            upsertComment(comment)
        default:
            return ApplyOutcome()
        }
        return outcome
    }

    // MARK: - Replies

    /// A `threads` reply: the whole list, replacing what we had.
    public mutating func loadThreads(_ list: [ThreadSummary]) {
        threads = Dictionary(list.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        unreadThreadCount = threads.values.reduce(0) { $0 + ($1.unread > 0 ? 1 : 0) }
        snoozedThreadIDs = Set(threads.values.filter { $0.status == .snoozed }.map(\.id))
        visibleThreadIDs = []  // drop the shared buffer first (see `reposition`)
        sortedThreadIDs = threads.values.sorted(by: Self.isMoreRecent).map(\.id)
        refilter()
        if selectedThreadID.map({ threads[$0] == nil }) ?? true { selectedThreadID = visibleThreadIDs.first }
    }

    /// A `history` reply (oldest first), merged with whatever live events already delivered. The agent's steps
    /// become system lines between the messages.
    public mutating func loadHistory(thread: String, _ list: [MessageView], steps: [AgentStepView] = [], limit: Int) {
        let pageCount = list.count
        let list = steps.isEmpty ? list : list + steps.map(\.line)
        var merged = messages[thread] ?? []
        if merged.isEmpty {
            merged = list.sorted { $0.timestamp < $1.timestamp }
        } else {
            var byID = Dictionary(merged.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
            for message in list where byID[message.id] == nil { byID[message.id] = message }
            merged = byID.values.sorted { ($0.timestamp, $0.id) < ($1.timestamp, $1.id) }
        }
        messages[thread] = merged
        history[thread] = .loaded(hasOlder: pageCount >= limit)
    }

    /// A `thread.deleted` event (message retention): the conversation is gone from the daemon.
    public mutating func removeThread(_ id: String) {
        let old = threads.removeValue(forKey: id)
        if (old?.unread ?? 0) > 0 { unreadThreadCount -= 1 }
        snoozedThreadIDs.remove(id)
        reposition(id, old: old)
        messages[id] = nil
        history[id] = nil
        readWatermarks[id] = nil
        if openThreadID == id { openThreadID = nil }
        if selectedThreadID == id { selectedThreadID = visibleThreadIDs.first }
    }

    /// The daemon answered `resync`: what we hold may be missing events, so every conversation is dropped, to be
    /// loaded again, and the next subscription starts afresh.
    public mutating func forgetForResync() {
        lastSeq = 0
        messages = [:]
        history = [:]
        readWatermarks = [:]
        selectedMessageID = nil
    }

    /// A `{"thread": ThreadSummary}` reply or a `thread.updated` event.
    public mutating func upsertThread(_ summary: ThreadSummary) {
        let selectedIndex = summary.id == selectedThreadID ? selectedThreadIndex : nil
        let old = setThread(summary)
        reposition(summary.id, old: old)
        // Snoozed away from under the highlight: the row that takes its place is highlighted instead.
        if let selectedIndex, summary.status == .snoozed, !showsSnoozed, !visibleThreadIDs.isEmpty {
            selectedThreadID = visibleThreadIDs[min(selectedIndex, visibleThreadIDs.count - 1)]
        }
    }

    /// A `send` reply or an `outbound.updated` event: shows or updates our message's delivery mark.
    public mutating func applyOutbound(_ outbound: OutboundView) {
        if outbound.channel == .whatsapp || outbound.kind == .managerNotification {
            switch outbound.status {
            case .sent: notice = Notice("manager notified on WhatsApp", isError: false)
            case .failed: notice = Notice("manager notification failed: \(outbound.error ?? "unknown error")", isError: true)
            case .pending: break
            }
            return
        }
        guard let thread = outbound.thread else { return }
        if outbound.kind == .reaction {
            if outbound.status == .failed {
                notice = Notice("reaction failed: \(outbound.error ?? "unknown error")", isError: true)
            }
            return
        }
        let key = "out:\(outbound.id)"
        let found = updateMessage(in: thread, where: { $0.outboundId == outbound.id || $0.id == key }) {
            $0.delivery = outbound.status
            $0.error = outbound.error
        }
        if !found {
            let message = MessageView(id: key, thread: thread, direction: .outbound, author: outbound.author,
                                      text: outbound.text, timestamp: outbound.createdAt, delivery: outbound.status,
                                      error: outbound.error, outboundId: outbound.id)
            upsertMessage(message)
            touchThread(for: message, countUnread: false)
        }
        if outbound.status == .failed && thread == openThreadID {
            notice = Notice("send failed: \(outbound.error ?? "unknown error")", isError: true)
        }
    }

    // MARK: - Filter and selection

    public mutating func setFilter(_ text: String) {
        filter = text
        refilter()
        if let selected = selectedThreadID, visibleThreadIDs.contains(selected) { return }
        selectedThreadID = visibleThreadIDs.first
    }

    public var selectedThreadIndex: Int? {
        guard let selectedThreadID else { return nil }
        return visibleThreadIDs.firstIndex(of: selectedThreadID)
    }

    public mutating func moveThreadSelection(by delta: Int) {
        guard !visibleThreadIDs.isEmpty else { selectedThreadID = nil; return }
        let current = selectedThreadIndex ?? (delta > 0 ? -1 : visibleThreadIDs.count)
        let next = min(max(current + delta, 0), visibleThreadIDs.count - 1)
        selectedThreadID = visibleThreadIDs[next]
    }

    public mutating func selectThread(at index: Int) {
        guard !visibleThreadIDs.isEmpty else { return }
        selectedThreadID = visibleThreadIDs[min(max(index, 0), visibleThreadIDs.count - 1)]
    }

    /// The next thread with unread messages after the selected one (wrapping), if any.
    public func nextUnreadThreadID() -> String? {
        nextThreadID { $0.unread > 0 }
    }

    /// The next open thread waiting for a person (⚑ needs you) after the selected one (wrapping), if any.
    public func nextNeedingOperatorThreadID() -> String? {
        nextThreadID { $0.awaitingOperator && $0.status == .open }
    }

    /// The next listed thread after the selected one (wrapping), other than the open one, that `matches`.
    func nextThreadID(where matches: (ThreadSummary) -> Bool) -> String? {
        guard !visibleThreadIDs.isEmpty else { return nil }
        let start = selectedThreadIndex ?? -1
        for step in 1...visibleThreadIDs.count {
            let id = visibleThreadIDs[(start + step + visibleThreadIDs.count) % visibleThreadIDs.count]
            if let thread = threads[id], matches(thread), id != openThreadID { return id }
        }
        return nil
    }

    public var openMessages: [MessageView] { openThreadID.flatMap { messages[$0] } ?? [] }

    /// Index of the highlighted message in the open thread (the newest when none is chosen).
    public var selectedMessageIndex: Int? {
        let list = openMessages
        guard !list.isEmpty else { return nil }
        if let selectedMessageID, let index = list.lastIndex(where: { $0.id == selectedMessageID }) { return index }
        return list.count - 1
    }

    public var selectedMessage: MessageView? { selectedMessageIndex.map { openMessages[$0] } }

    public mutating func moveMessageSelection(by delta: Int) {
        let list = openMessages
        guard let current = selectedMessageIndex else { return }
        let next = min(max(current + delta, 0), list.count - 1)
        selectedMessageID = next == list.count - 1 ? nil : list[next].id
    }

    public mutating func selectMessage(at index: Int) {
        let list = openMessages
        guard !list.isEmpty else { return }
        let i = min(max(index, 0), list.count - 1)
        selectedMessageID = i == list.count - 1 ? nil : list[i].id
    }

    /// Opens a thread: clears its unread count locally (the app tells the daemon with `mark_read`).
    public mutating func open(thread id: String) {
        if openThreadID != id { selectedMessageID = nil }
        openThreadID = id
        selectedThreadID = id
        if var summary = threads[id], summary.unread > 0 {
            summary.unread = 0
            setThread(summary)
        }
    }

    /// Threads with unread messages; kept up to date by every change to `threads` (drawn every frame).
    public private(set) var unreadThreadCount = 0
    /// Snoozed threads stay out of the list unless `showsSnoozed` (`Z`).
    public private(set) var snoozedThreadIDs: Set<String> = []
    public private(set) var showsSnoozed = false

    public mutating func setShowsSnoozed(_ shown: Bool) {
        showsSnoozed = shown
        visibleThreadIDs = []
        refilter()
        if let selected = selectedThreadID, visibleThreadIDs.contains(selected) { return }
        selectedThreadID = visibleThreadIDs.first
    }

    /// The customer's newest message in a thread (for the manager-notification prompt).
    public func lastCustomerMessage(in thread: String) -> MessageView? {
        messages[thread]?.last { $0.author == .customer }
    }

    /// The newest of our messages in a thread that failed to send and can be retried.
    public func lastFailedOutbound(in thread: String) -> MessageView? {
        messages[thread]?.last { $0.delivery == .failed && $0.outboundId != nil }
    }

    public func isSeen(_ message: MessageView) -> Bool {
        guard message.direction == .outbound, let watermark = readWatermarks[message.thread] else { return false }
        return message.timestamp <= watermark
    }

    // MARK: - Internals

    static func isMoreRecent(_ a: ThreadSummary, _ b: ThreadSummary) -> Bool {
        let ta = a.lastAt ?? 0, tb = b.lastAt ?? 0
        return ta != tb ? ta > tb : a.id < b.id
    }

    /// Replaces one thread's summary, keeping `unreadThreadCount` right; returns the previous summary.
    @discardableResult
    private mutating func setThread(_ summary: ThreadSummary) -> ThreadSummary? {
        let old = threads.updateValue(summary, forKey: summary.id)
        unreadThreadCount += (summary.unread > 0 ? 1 : 0) - ((old?.unread ?? 0) > 0 ? 1 : 0)
        if summary.status == .snoozed { snoozedThreadIDs.insert(summary.id) } else if old?.status == .snoozed { snoozedThreadIDs.remove(summary.id) }
        return old
    }

    /// Moves one thread to its sorted place: O(n) instead of re-sorting everything per event.
    /// `old` is the summary before the change: its row is found by binary search instead of a scan.
    private mutating func reposition(_ id: String, old: ThreadSummary?) {
        // Without a filter `visibleThreadIDs` shares `sortedThreadIDs`' buffer: release it before mutating, or the
        // remove/insert below copies all 10,000 ids (a retain and a release each) on every event.
        visibleThreadIDs = []
        if let index = indexInSorted(id, old: old) { sortedThreadIDs.remove(at: index) }
        guard let summary = threads[id] else { refilter(); return }
        var low = 0, high = sortedThreadIDs.count
        while low < high {
            let mid = (low + high) / 2
            if let other = threads[sortedThreadIDs[mid]], Self.isMoreRecent(other, summary) { low = mid + 1 } else { high = mid }
        }
        sortedThreadIDs.insert(id, at: low)
        refilter()
        if selectedThreadID == nil { selectedThreadID = visibleThreadIDs.first }
    }

    /// Where `id` sits in `sortedThreadIDs`, whose other rows are ordered by their current summaries and this one
    /// by `old`; falls back to a scan if that does not find it.
    private func indexInSorted(_ id: String, old: ThreadSummary?) -> Int? {
        if let old {
            var low = 0, high = sortedThreadIDs.count
            while low < high {
                let mid = (low + high) / 2
                let otherID = sortedThreadIDs[mid]
                let other = otherID == id ? old : threads[otherID]
                if let other, Self.isMoreRecent(other, old) { low = mid + 1 } else { high = mid }
            }
            if low < sortedThreadIDs.count && sortedThreadIDs[low] == id { return low }
        }
        return sortedThreadIDs.firstIndex(of: id)
    }

    private mutating func refilter() {
        let needle = filter.trimmingCharacters(in: .whitespaces).lowercased()
        // With nothing snoozed (or snoozed shown) and no filter, the list is the sorted ids themselves: no copy.
        let hideSnoozed = !showsSnoozed && !snoozedThreadIDs.isEmpty
        guard !needle.isEmpty || hideSnoozed else { visibleThreadIDs = sortedThreadIDs; return }
        visibleThreadIDs = sortedThreadIDs.filter { id in
            if hideSnoozed && snoozedThreadIDs.contains(id) { return false }
            guard !needle.isEmpty else { return true }
            guard let t = threads[id] else { return false }
            return t.displayName.lowercased().contains(needle) || (t.username?.lowercased().contains(needle) ?? false)
                || (t.lastText?.lowercased().contains(needle) ?? false) || t.id.contains(needle)
        }
    }

    /// Inserts or replaces a message (by id, or by outbox id for our own); returns true when it was new.
    @discardableResult
    private mutating func upsertMessage(_ message: MessageView) -> Bool {
        // Mutated in place through the dictionary: copying the list out and back would copy every message.
        if let index = messages[message.thread]?.lastIndex(where: {
            $0.id == message.id || (message.outboundId != nil && $0.outboundId == message.outboundId)
        }) {
            var updated = message
            if updated.reactions.isEmpty { updated.reactions = messages[message.thread]![index].reactions }
            messages[message.thread]![index] = updated
            return false
        }
        // Usually the newest: search from the end for its place by time.
        var position = messages[message.thread]?.count ?? 0
        while position > 0 && messages[message.thread]![position - 1].timestamp > message.timestamp { position -= 1 }
        messages[message.thread, default: []].insert(message, at: position)
        return true
    }

    /// An unsent message: replies that quoted it show that it was unsent instead.
    private mutating func forgetQuotes(of message: MessageView) {
        let ids = Set([message.id] + (message.mid.map { [$0] } ?? []))
        guard let list = messages[message.thread] else { return }
        for index in list.indices where list[index].replyToMid.map(ids.contains) == true {
            messages[message.thread]![index].replyToText = nil
            messages[message.thread]![index].replyToUnsent = true
        }
    }

    @discardableResult
    private mutating func updateMessage(in thread: String, where match: (MessageView) -> Bool,
                                        _ change: (inout MessageView) -> Void) -> Bool
    {
        guard let index = messages[thread]?.lastIndex(where: match) else { return false }
        change(&messages[thread]![index])
        return true
    }

    /// Updates the thread row for a new message: preview, time, unread, 24-hour window.
    private mutating func touchThread(for message: MessageView, countUnread: Bool) {
        guard message.author != .system else { return }
        var summary = threads[message.thread] ?? ThreadSummary(id: message.thread)
        let preview = MessageKind.preview(text: message.text, attachments: message.attachments, kind: message.kind)
        if message.timestamp >= (summary.lastAt ?? 0) {
            summary.lastText = preview ?? summary.lastText
            summary.lastAt = message.timestamp
        }
        if message.direction == .inbound {
            summary.lastInboundAt = max(summary.lastInboundAt ?? 0, message.timestamp)
            if countUnread && message.thread != openThreadID { summary.unread += 1 }
        }
        let old = setThread(summary)
        reposition(message.thread, old: old)
    }
}
