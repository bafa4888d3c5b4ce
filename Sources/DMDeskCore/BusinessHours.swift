import Foundation

/// When the shop answers, written as `DMDESK_BUSINESS_HOURS` writes it: `Mon-Fri 09:00-18:00; Sat 10:00-14:00`
/// (days as a range or a comma list, then one or more `HH:MM-HH:MM` ranges, comma separated; `24:00` ends a day),
/// in the IANA time zone `DMDESK_TIMEZONE`. Outside those hours the bot sends the away text, once per thread in each
/// closed period, instead of its fallback reply.
public struct BusinessHours: Sendable, Equatable {
    /// Open on `weekday` (1 = Monday … 7 = Sunday) from `start` to `end`, in minutes after midnight, local time.
    public struct Opening: Sendable, Equatable {
        public var weekday: Int
        public var start: Int
        public var end: Int
    }

    public var openings: [Opening]
    public var timeZone: TimeZone

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// Parses the hours; the error names the part that is wrong.
    public static func parse(_ text: String, timeZone: TimeZone) -> Result<BusinessHours, ConfigError> {
        var openings: [Opening] = []
        let groups = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !groups.isEmpty else { return .failure(ConfigError("needs at least one opening, like 'Mon-Fri 09:00-18:00'")) }
        for group in groups {
            let parts = group.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[1].isEmpty else {
                return .failure(ConfigError("'\(group)' needs days and hours, like 'Mon-Fri 09:00-18:00'"))
            }
            let days: [Int]
            switch parseDays(parts[0]) {
            case .success(let d): days = d
            case .failure(let e): return .failure(ConfigError("in '\(group)': \(e.message)"))
            }
            for range in parts[1].split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let ends = range.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                guard ends.count == 2, let start = minutes(ends[0]), let end = minutes(ends[1]) else {
                    return .failure(ConfigError("in '\(group)': '\(range)' is not a time range like 09:00-18:00"))
                }
                guard end > start else {
                    return .failure(ConfigError(
                        "in '\(group)': '\(range)' ends before it starts (for overnight hours write two ranges, like 'Fri 22:00-24:00; Sat 00:00-02:00')"))
                }
                for day in days { openings.append(Opening(weekday: day, start: start, end: end)) }
            }
        }
        return .success(BusinessHours(openings: openings, timeZone: timeZone))
    }

    /// `Mon-Fri`, `Sat`, `Mon,Wed,Fri`, `Sat-Mon` (wrapping past Sunday).
    static func parseDays(_ text: String) -> Result<[Int], ConfigError> {
        var days: [Int] = []
        for piece in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            let ends = piece.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            var indexes: [Int] = []
            for end in ends {
                guard let i = dayNames.firstIndex(of: String(end.prefix(3))), end.count == 3 || fullDayName(end) else {
                    return .failure(ConfigError("'\(end)' is not a day (write Mon, Tue, Wed, Thu, Fri, Sat or Sun)"))
                }
                indexes.append(i + 1)
            }
            guard indexes.count == 1 || indexes.count == 2 else {
                return .failure(ConfigError("'\(piece)' is not a day or a range of days like Mon-Fri"))
            }
            var day = indexes[0]
            days.append(day)
            if indexes.count == 2 {
                while day != indexes[1] {
                    day = day % 7 + 1
                    days.append(day)
                }
            }
        }
        return .success(days)
    }

    private static func fullDayName(_ text: String) -> Bool {
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].contains(text)
    }

    /// `09:00` → 540; `24:00` is the end of the day.
    static func minutes(_ text: String) -> Int? {
        let hm = text.split(separator: ":", omittingEmptySubsequences: false)
        guard hm.count == 2, hm[0].count <= 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]),
            (0...24).contains(h), (0...59).contains(m), h < 24 || m == 0
        else { return nil }
        return h * 60 + m
    }

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    public func isOpen(at time: EpochMillis) -> Bool { closedSince(time) == nil }

    /// When the closed period that `time` is in began (the end of the last opening before it), or nil while open.
    /// With no opening in the week before, `EpochMillis.min`: one closed period that never began.
    public func closedSince(_ time: EpochMillis) -> EpochMillis? {
        let calendar = self.calendar
        let date = Date(timeIntervalSince1970: Double(time) / 1000)
        let today = calendar.startOfDay(for: date)
        var latestEnd: EpochMillis? = nil
        for back in 0...7 {
            guard let day = calendar.date(byAdding: .day, value: -back, to: today) else { continue }
            let weekday = (calendar.component(.weekday, from: day) + 5) % 7 + 1  // Calendar's 1 is Sunday
            for opening in openings where opening.weekday == weekday {
                let start = instant(day, plusMinutes: opening.start, calendar)
                let end = instant(day, plusMinutes: opening.end, calendar)
                if start <= time && time < end { return nil }
                if end <= time { latestEnd = max(latestEnd ?? .min, end) }
            }
            if latestEnd != nil { break }
        }
        return latestEnd ?? .min
    }

    /// Wall-clock minutes after a day's start, through the calendar so a daylight-saving change is honoured.
    private func instant(_ day: Date, plusMinutes minutes: Int, _ calendar: Calendar) -> EpochMillis {
        if minutes == 24 * 60, let next = calendar.date(byAdding: .day, value: 1, to: day) {
            return EpochMillis(next.timeIntervalSince1970 * 1000)
        }
        let date = calendar.date(bySettingHour: minutes / 60, minute: minutes % 60, second: 0, of: day) ?? day
        return EpochMillis(date.timeIntervalSince1970 * 1000)
    }
}
