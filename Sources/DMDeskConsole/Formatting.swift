import DMDeskCore
import Glibc

/// Short human-readable times for narrow columns.
public enum TimeFormat {
    private static func localTime(_ ms: EpochMillis) -> tm {
        var seconds = time_t(ms / 1000)
        var result = tm()
        localtime_r(&seconds, &result)
        return result
    }

    /// "14:02"
    public static func clock(_ ms: EpochMillis) -> String {
        let t = localTime(ms)
        return pad2(Int(t.tm_hour)) + ":" + pad2(Int(t.tm_min))
    }

    /// A key that changes when the local calendar day changes, and the day's label ("Tue 12 Mar").
    public static func day(_ ms: EpochMillis) -> (key: Int, label: String) {
        let t = localTime(ms)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let key = Int(t.tm_year) * 400 + Int(t.tm_yday)
        return (key, "\(weekdays[Int(t.tm_wday) % 7]) \(t.tm_mday) \(months[Int(t.tm_mon) % 12]) \(1900 + Int(t.tm_year))")
    }

    /// "now", "5m", "3h", "2d", or "12 Mar" for older.
    public static func relative(_ ms: EpochMillis?, now: EpochMillis = nowMillis()) -> String {
        guard let ms else { return "" }
        let seconds = max(0, (now - ms) / 1000)
        if seconds < 60 { return "now" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86_400 { return "\(seconds / 3600)h" }
        if seconds < 7 * 86_400 { return "\(seconds / 86_400)d" }
        let t = localTime(ms)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(t.tm_mday) \(months[Int(t.tm_mon) % 12])"
    }

    /// Time left in Meta's 24-hour window: "18h", "45m", or "closed".
    public static func window(_ thread: ThreadSummary, now: EpochMillis = nowMillis()) -> String {
        guard let left = thread.windowRemaining(now: now) else { return "closed" }
        let minutes = left / 60_000
        return minutes >= 60 ? "\(minutes / 60)h" : "\(max(1, minutes))m"
    }

    /// The conversation header's clocks: "18h left to reply"; once the 24-hour window has closed, how long a person
    /// may still reply with the HUMAN_AGENT tag ("window closed · 5 d left as human agent"), or that no reply is
    /// possible. `closed`: no ordinary reply now (shown as a warning).
    public static func windowClocks(_ thread: ThreadSummary, humanAgentTag: Bool, now: EpochMillis = nowMillis())
        -> (text: String, closed: Bool)
    {
        if thread.windowRemaining(now: now) != nil { return ("\(window(thread, now: now)) left to reply", false) }
        let policy = SendWindowPolicy(humanAgentTag: humanAgentTag)
        guard humanAgentTag else { return ("24-hour window closed", true) }
        guard let left = policy.humanAgentRemaining(lastInboundAt: thread.lastInboundAt, now: now) else {
            return ("window closed · 7 days passed, no reply until they write", true)
        }
        return ("window closed · \(span(left)) left as human agent", true)
    }

    /// "5 d", "7 h", "12 m": a span for the clocks.
    static func span(_ ms: EpochMillis) -> String {
        let minutes = ms / 60_000
        if minutes >= 24 * 60 { return "\(minutes / (24 * 60)) d" }
        if minutes >= 60 { return "\(minutes / 60) h" }
        return "\(max(1, minutes)) m"
    }

    private static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
