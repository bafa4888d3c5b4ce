import DMDeskCore
import Foundation
import Testing

@Suite struct SnoozeTimeTests {
    let tokyo = TimeZone(identifier: "Asia/Tokyo")!  // no daylight saving: the cases hold all year
    /// Wednesday 2026-12-02 15:30 in Tokyo (06:30 UTC).
    let now: EpochMillis = 1_796_193_000_000

    func at(_ text: String, zone: TimeZone? = nil) -> String? {
        guard case .success(let ms) = SnoozeTime.parse(text, now: now, timeZone: zone ?? tokyo) else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone ?? tokyo
        f.dateFormat = "EEE yyyy-MM-dd HH:mm"
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    @Test func thePresetsAndWhatOperatorsType() {
        #expect(at("1h") == "Wed 2026-12-02 16:30")
        #expect(at("4h") == "Wed 2026-12-02 19:30")
        #expect(at("30m") == "Wed 2026-12-02 16:00")
        #expect(at("2d") == "Fri 2026-12-04 15:30")
        #expect(at("tomorrow") == "Thu 2026-12-03 09:00", "a day alone means 09:00")
        #expect(at("Tomorrow 14:15") == "Thu 2026-12-03 14:15")
        #expect(at("next monday") == "Mon 2026-12-07 09:00")
        #expect(at("fri 17:00") == "Fri 2026-12-04 17:00")
        #expect(at("wednesday") == "Wed 2026-12-09 09:00", "today's weekday means next week's")
        #expect(at("18:00") == "Wed 2026-12-02 18:00", "a time later today")
        #expect(at("08:00") == "Thu 2026-12-03 08:00", "a time already past today means tomorrow")
        #expect(at("2026-12-24 10:00") == "Thu 2026-12-24 10:00")
        #expect(at("2026-12-24") == "Thu 2026-12-24 09:00")
        #expect(at("2026-12-24T01:00:00Z") == "Thu 2026-12-24 10:00", "ISO 8601 with its own zone")
        #expect(at("tomorrow", zone: TimeZone(identifier: "UTC")!) == "Thu 2026-12-03 09:00", "in the operator's zone")
        #expect(SnoozeTime.presets.map(\.text).allSatisfy { at($0) != nil })
    }

    @Test func refusalsSayWhy() {
        #expect(SnoozeTime.parse("yesterday", now: now, timeZone: tokyo) == .failure(.unreadable("yesterday")))
        #expect(SnoozeTime.parse("25:00", now: now, timeZone: tokyo) == .failure(.unreadable("25:00")))
        #expect(SnoozeTime.parse("2026-02-30", now: now, timeZone: tokyo) == .failure(.unreadable("2026-02-30")))
        #expect(SnoozeTime.parse("2026-12-01 10:00", now: now, timeZone: tokyo) == .failure(.past("2026-12-01 10:00")))
        #expect(SnoozeTime.parse("today 09:00", now: now, timeZone: tokyo) == .failure(.past("today 09:00")))
        #expect(SnoozeTime.parse("0h", now: now, timeZone: tokyo) == .failure(.unreadable("0h")))
        #expect(SnoozeTime.Problem.past("x").description.contains("in the past"))
    }

    @Test func theClockFileIsReadEachTime() throws {
        let path = NSTemporaryDirectory() + "dmdesk-clock-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = SnoozeClock(file: path)
        try "1000".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(clock.now() == 1000 && clock.isFake)
        try "2000\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(clock.now() == 2000)
        #expect(!SnoozeClock.fromEnvironment([:]).isFake)
        #expect(SnoozeClock.fromEnvironment(["DMDESK_CLOCK_FILE": path]).file == path)
    }
}
