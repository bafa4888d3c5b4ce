import DMDeskCore
@testable import DMDeskDaemon
import DMDeskStore
import DMDeskTesting
import Foundation
import Synchronization
import Testing

/// A clock a test moves by hand: the daemon judges business hours and the fallback cooldown by it.
final class TestClock: Sendable {
    private let now: Mutex<EpochMillis>
    init(_ start: EpochMillis) { now = Mutex(start) }
    func read() -> EpochMillis { now.withLock { $0 } }
    func set(_ t: EpochMillis) { now.withLock { $0 = t } }
    func advance(hours: Double) { now.withLock { $0 += EpochMillis(hours * 3_600_000) } }
}

@Suite("A polite bot: the fallback once per cooldown, the away text once per closed period (real HTTP, stand-in)")
struct PoliteBotTests {
    static let fallback = "Thanks for your message! We'll get back to you soon."
    static let away = "We're closed — back Monday at 9."

    /// Lisbon wall-clock time as epoch milliseconds.
    static func lisbon(_ text: String) -> EpochMillis {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "Europe/Lisbon")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return EpochMillis(f.date(from: text)!.timeIntervalSince1970 * 1000)
    }

    @Test("three unmatched messages → one fallback; a matched rule still answers each time; after the cooldown, another")
    func fallbackCooldown() async throws {
        let clock = TestClock(nowMillis())
        try await ReplyRig.with(env: ["DMDESK_FALLBACK_COOLDOWN": "24h"], clock: clock.read) { rig in
            _ = try await rig.d.store.addRule(RuleRecord(pattern: "price", matchKind: .contains, reply: "Prices are on our page.", priority: 1, action: .reply))
            let customer = "8100"
            var mids = [try await rig.say(customer, "hi there")]
            try await rig.waitForTexts(customer, count: 1)
            try await rig.waitIdle()
            for text in ["are you there?", "hello??"] {
                clock.advance(hours: 1)
                mids.append(try await rig.say(customer, text))
                try await rig.waitProcessed([mids.last!])
                try await rig.waitIdle()
            }
            #expect(rig.texts(customer) == [Self.fallback], "one fallback for three unmatched messages")
            mids.append(try await rig.say(customer, "what is the price?"))
            try await rig.waitForTexts(customer, count: 2)
            mids.append(try await rig.say(customer, "and the price in blue?"))
            try await rig.waitForTexts(customer, count: 3)
            #expect(Array(rig.texts(customer).suffix(2)) == ["Prices are on our page.", "Prices are on our page."])
            try await rig.waitIdle()

            clock.advance(hours: 23)  // 25 h after the first fallback
            try await rig.say(customer, "anyone?")
            #expect(try await rig.waitForTexts(customer, count: 4).last == Self.fallback, "the cooldown is over")
            try await rig.waitIdle()
            #expect(rig.texts("8101").isEmpty)
            try await rig.say("8101", "hello")
            #expect(try await rig.waitForTexts("8101", count: 1) == [Self.fallback], "per thread: another customer is answered")
        }
    }

    @Test("DMDESK_FALLBACK_COOLDOWN=off answers every unmatched message; the default is 24h")
    func cooldownOff() async throws {
        let defaults = try DMDeskConfig(ResolvedConfig.load(environment: [:], configFile: nil, dotenvPath: nil), environment: [:])
        #expect(defaults.fallbackCooldown == RetentionPeriod(seconds: 86400))
        #expect(defaults.businessHours == nil, "no hours set: always open")
        try await ReplyRig.with(env: ["DMDESK_FALLBACK_COOLDOWN": "off"]) { rig in
            try await rig.greeted("8200")
            try await rig.say("8200", "still there?")
            #expect(try await rig.waitForTexts("8200", count: 2) == [Self.fallback, Self.fallback])
        }
    }

    @Test("business hours in Europe/Lisbon: open → fallback; closed → the away text once per closed period, rules still answer")
    func businessHours() async throws {
        let clock = TestClock(Self.lisbon("2026-12-04 17:30"))  // a Friday, open
        let env = [
            "DMDESK_BUSINESS_HOURS": "Mon-Fri 09:00-18:00; Sat 10:00-14:00", "DMDESK_TIMEZONE": "Europe/Lisbon",
            "DMDESK_AWAY_TEXT": Self.away, "DMDESK_FALLBACK_COOLDOWN": "off",
        ]
        try await ReplyRig.with(env: env, clock: clock.read) { rig in
            _ = try await rig.d.store.addRule(RuleRecord(pattern: "price", matchKind: .contains, reply: "Prices are on our page.", priority: 1, action: .reply))
            let customer = "8300"
            #expect(try await rig.greeted(customer) == [Self.fallback], "open on Friday at 17:30")
            #expect(try await rig.d.daemon.runtime.health.status().businessHours == "open")

            clock.set(Self.lisbon("2026-12-04 19:00"))  // Friday evening: closed
            try await rig.say(customer, "hello?")
            #expect(try await rig.waitForTexts(customer, count: 2).last == Self.away)
            try await rig.waitIdle()
            #expect(try await rig.d.daemon.runtime.health.status().businessHours == "closed")
            clock.set(Self.lisbon("2026-12-04 23:00"))
            let quiet = try await rig.say(customer, "anyone?")
            try await rig.waitProcessed([quiet])
            try await rig.waitIdle()
            #expect(rig.texts(customer).count == 2, "the same closed period: no second away text, no fallback: \(rig.texts(customer))")
            try await rig.say(customer, "what's the price?")
            #expect(try await rig.waitForTexts(customer, count: 3).last == "Prices are on our page.", "rules answer when closed")
            try await rig.waitIdle()

            clock.set(Self.lisbon("2026-12-05 11:00"))  // Saturday 10-14: open
            try await rig.say(customer, "good morning")
            #expect(try await rig.waitForTexts(customer, count: 4).last == Self.fallback)
            try await rig.waitIdle()
            clock.set(Self.lisbon("2026-12-05 15:00"))  // Saturday afternoon: a new closed period
            try await rig.say(customer, "hello again")
            #expect(try await rig.waitForTexts(customer, count: 5).last == Self.away, "a new closed period, a new away text")
        }
    }

    @Test("parsing business hours: ranges, lists, 24:00, wrapping days; mistakes are named")
    func parsing() throws {
        let zone = TimeZone(identifier: "Europe/Lisbon")!
        let hours = try BusinessHours.parse("Mon-Fri 09:00-12:30, 13:30-18:00; Sat,Sun 10:00-24:00", timeZone: zone).get()
        #expect(hours.openings.count == 5 * 2 + 2)
        #expect(hours.isOpen(at: Self.lisbon("2026-12-07 09:00")), "Monday 09:00 opens")
        #expect(!hours.isOpen(at: Self.lisbon("2026-12-07 12:45")), "lunch")
        #expect(hours.closedSince(Self.lisbon("2026-12-07 12:45")) == Self.lisbon("2026-12-07 12:30"))
        #expect(hours.isOpen(at: Self.lisbon("2026-12-06 23:59")), "Sunday until midnight")
        #expect(hours.closedSince(Self.lisbon("2026-12-07 08:00")) == Self.lisbon("2026-12-07 00:00"), "closed since Sunday's 24:00")
        let wrap = try BusinessHours.parse("Fri-Mon 10:00-11:00", timeZone: zone).get()
        #expect(Set(wrap.openings.map(\.weekday)) == [5, 6, 7, 1])
        for (text, named) in [
            ("Mno-Fri 09:00-18:00", "'mno' is not a day"), ("Mon-Fri 9-18", "'9-18' is not a time range"),
            ("Mon 18:00-09:00", "ends before it starts"), ("Mon-Fri", "needs days and hours"), ("Mon 09:00-24:30", "is not a time range"),
        ] {
            guard case .failure(let e) = BusinessHours.parse(text, timeZone: zone) else {
                Issue.record("\(text) parsed")
                continue
            }
            #expect(e.message.contains(named), "\(text): \(e.message)")
        }
    }

    @Test("`dmdesk config` names the mistake in the hours and the time zone", .enabled(if: dmdeskExecutable() != nil))
    func configNamesMistakes() throws {
        let dir = try makeTempDirectory(prefix: "dmdesk-hours-config")
        let bad = try runDmdesk(["config"], cwd: dir, env: ["DMDESK_BUSINESS_HOURS": "Mon-Fry 09:00-18:00"])
        #expect(bad.0 != 0)
        #expect((bad.1 + bad.2).contains("DMDESK_BUSINESS_HOURS") && (bad.1 + bad.2).contains("'fry' is not a day"), "\(bad)")
        let zone = try runDmdesk(["config"], cwd: dir, env: ["DMDESK_TIMEZONE": "Europe/Lisboa"])
        #expect(zone.0 != 0 && (zone.1 + zone.2).contains("not an IANA time zone"), "\(zone)")
        let good = try runDmdesk(["config"], cwd: dir, env: ["DMDESK_BUSINESS_HOURS": "Mon-Fri 09:00-18:00", "DMDESK_TIMEZONE": "Europe/Lisbon"])
        #expect(good.0 == 0, "\(good)")
    }
}
