import Foundation

/// The time the daemon's snoozes go by: the system clock, or for tests `DMDESK_CLOCK_FILE`, a file holding epoch
/// milliseconds that is read again each time (a test writes a later time to make a snooze come due).
public struct SnoozeClock: Sendable {
    public let file: String?

    public init(file: String? = nil) { self.file = file }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SnoozeClock {
        SnoozeClock(file: environment["DMDESK_CLOCK_FILE"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// A fake clock only changes when its file does: it is looked at often, as there is nothing to sleep until.
    public var isFake: Bool { file != nil }

    public func now() -> EpochMillis {
        guard let file else { return nowMillis() }
        let text = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.flatMap { EpochMillis($0) } ?? nowMillis()
    }
}

/// When a snooze ends, as an operator writes it: `1h`, `30m`, `2d`, `tomorrow [HH:MM]`, `monday [HH:MM]` (or
/// `next monday`), `HH:MM` (today, or tomorrow once past), `YYYY-MM-DD [HH:MM]` or ISO 8601, in the operator's time
/// zone (`TZ`). Days without a time mean 09:00.
public enum SnoozeTime {
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case unreadable(String)
        case past(String)

        public var description: String {
            switch self {
            case .unreadable(let text):
                return "cannot read “\(text)” as a time: try 1h, 30m, 2d, tomorrow 09:00, monday, 17:30 or 2026-12-24 10:00"
            case .past(let text): return "“\(text)” is in the past: a snooze must end later"
            }
        }
    }

    public static let defaultHour = 9

    /// The presets the console offers (`z`), in its order.
    public static let presets: [(label: String, text: String)] = [
        ("1 h", "1h"), ("4 h", "4h"), ("tomorrow 09:00", "tomorrow"), ("next Monday 09:00", "next monday"),
    ]

    public static func parse(_ raw: String, now: EpochMillis, timeZone: TimeZone = .current) -> Result<EpochMillis, Problem> {
        let text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let nowDate = Date(timeIntervalSince1970: Double(now) / 1000)
        func millis(_ date: Date) -> EpochMillis { EpochMillis((date.timeIntervalSince1970 * 1000).rounded()) }
        func later(_ ms: EpochMillis) -> Result<EpochMillis, Problem> { ms > now ? .success(ms) : .failure(.past(raw)) }

        // 90m, 4h, 2d, 1w
        if let unit = text.last, let amount = Int(text.dropLast().trimmingCharacters(in: .whitespaces)), amount > 0 {
            let seconds: [Character: Int64] = ["m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
            if let each = seconds[unit] {
                let (ms, overflow) = Int64(amount).multipliedReportingOverflow(by: each * 1000)
                guard !overflow else { return .failure(.unreadable(raw)) }
                return later(now + ms)
            }
        }
        var words = text.split(separator: " ").map(String.init)
        // A trailing HH:MM applies to whatever day came before it.
        var clock: (hour: Int, minute: Int)? = nil
        if let last = words.last, let parsed = Self.clock(last) {
            clock = parsed
            words.removeLast()
        }
        func at(_ day: Date, _ time: (hour: Int, minute: Int)) -> Date? {
            calendar.date(bySettingHour: time.hour, minute: time.minute, second: 0, of: day)
        }
        let today = calendar.startOfDay(for: nowDate)
        if words.first == "next" { words.removeFirst() }
        switch words.count {
        case 0:
            guard let clock, let todayAt = at(today, clock) else { return .failure(.unreadable(raw)) }
            if todayAt > nowDate { return .success(millis(todayAt)) }
            guard let tomorrow = calendar.date(byAdding: .day, value: 1, to: today), let next = at(tomorrow, clock) else {
                return .failure(.unreadable(raw))
            }
            return .success(millis(next))
        case 1:
            let word = words[0]
            let time = clock ?? (Self.defaultHour, 0)
            if word == "today", let date = at(today, time) { return later(millis(date)) }
            if word == "tomorrow", let day = calendar.date(byAdding: .day, value: 1, to: today), let date = at(day, time) {
                return later(millis(date))
            }
            if let weekday = Self.weekday(word) {
                // The next such day after today (on a Monday, "monday" is a week away).
                var components = DateComponents()
                components.weekday = weekday
                guard let day = calendar.nextDate(after: today.addingTimeInterval(86_399), matching: components,
                                                  matchingPolicy: .nextTime),
                      let date = at(calendar.startOfDay(for: day), time)
                else { return .failure(.unreadable(raw)) }
                return later(millis(date))
            }
            if let day = Self.date(word, calendar: calendar), let date = at(day, time) { return later(millis(date)) }
        default:
            break
        }
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: raw.trimmingCharacters(in: .whitespaces)) { return later(millis(date)) }
        return .failure(.unreadable(raw))
    }

    /// When the snooze ends, in the operator's time zone: "14:05" today, "Mon 09:00" within a week, else "24 Dec 09:00".
    public static func describe(_ ms: EpochMillis, now: EpochMillis = nowMillis(), timeZone: TimeZone = .current) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let nowDate = Date(timeIntervalSince1970: Double(now) / 1000)
        if calendar.isDate(date, inSameDayAs: nowDate) { formatter.dateFormat = "HH:mm" }
        else if date.timeIntervalSince(nowDate) < 6 * 86_400 { formatter.dateFormat = "EEE HH:mm" }
        else { formatter.dateFormat = "d MMM HH:mm" }
        return formatter.string(from: date)
    }

    private static func clock(_ word: String) -> (hour: Int, minute: Int)? {
        let parts = word.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0...23).contains(hour), (0...59).contains(minute)
        else { return nil }
        return (hour, minute)
    }

    private static func weekday(_ word: String) -> Int? {
        let names = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
        if let index = names.firstIndex(of: word) { return index + 1 }
        if word.count >= 3, let index = names.firstIndex(where: { $0.hasPrefix(word) }) { return index + 1 }
        return nil
    }

    private static func date(_ word: String, calendar: Calendar) -> Date? {
        let parts = word.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, word.split(separator: "-").count == 3 else { return nil }
        let components = DateComponents(year: parts[0], month: parts[1], day: parts[2])
        guard let date = calendar.date(from: components),
              calendar.component(.day, from: date) == parts[2], calendar.component(.month, from: date) == parts[1]
        else { return nil }
        return date
    }
}
