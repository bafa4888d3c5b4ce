import DMDeskConsole
import DMDeskCore
import Testing

@Suite("The status bar's webhook badge")
struct WebhookBadgeTests {
    func status(_ verdict: String?, lastAt: EpochMillis?) -> DaemonStatus {
        var s = DaemonStatus(
            listener: "127.0.0.1:8080", sqlite: "up", redis: "up", redisError: nil, token: "ok", threads: 0, messages: 0,
            pendingOutbound: 0, uptimeSeconds: 1)
        s.webhooks = verdict
        s.lastWebhookAt = lastAt
        return s
    }

    @Test("age of the last webhook, never, failing; nothing from a daemon that does not say")
    func badge() {
        let now: EpochMillis = 1_800_000_000_000
        #expect(WebhookBadge.of(status("ok", lastAt: now - 180_000), now: now)?.text == "webhook 3m")
        #expect(WebhookBadge.of(status("ok", lastAt: now - 2_000), now: now)?.text == "webhook now")
        #expect(WebhookBadge.of(status("silent", lastAt: now - 7 * 3_600_000), now: now)?.text == "webhook 7h")
        #expect(WebhookBadge.of(status("never", lastAt: nil), now: now)?.text == "no webhook yet")
        let failing = WebhookBadge.of(status("failing", lastAt: now - 7 * 3_600_000), now: now)
        #expect(failing?.good == false && failing?.text.contains("failing") == true)
        #expect(WebhookBadge.of(status(nil, lastAt: nil), now: now) == nil)
    }
}
