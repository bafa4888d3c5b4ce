import DMDeskCore

/// The status bar's word on webhooks: "webhook 3m" (the last signed delivery), "no webhook yet", or, when the
/// daemon thinks they are failing, "webhooks failing?" in the warning colour.
public enum WebhookBadge {
    public static func of(_ status: DaemonStatus, now: EpochMillis) -> (text: String, good: Bool)? {
        // A daemon from before webhook health says nothing: show nothing.
        guard let verdict = status.webhooks else { return nil }
        if verdict == "failing" { return ("webhooks failing? (dmdesk sync)", false) }
        guard let at = status.lastWebhookAt else { return ("no webhook yet", true) }
        let age = TimeFormat.relative(at, now: now)
        return (age == "now" ? "webhook now" : "webhook \(age)", true)
    }
}
