import DMDeskCore
import Foundation

/// Builds signed webhook bodies the way Meta sends them, for tests, benchmarks and the demo simulator.
public enum WebhookBuilder {
    public static let accountId = "17841400008460056"
    /// The app secret the shared fixtures are signed with; tests and the demo sign with it too.
    public static let testAppSecret = "test-app-secret"

    public static func textMessage(
        from sender: String, text: String, mid: String, timestamp: EpochMillis = nowMillis(), account: String = accountId
    ) -> Data {
        envelope(account: account, items: [
            [
                "sender": ["id": .string(sender)], "recipient": ["id": .string(account)],
                "timestamp": .number(Double(timestamp)),
                "message": ["mid": .string(mid), "text": .string(text)],
            ]
        ])
    }

    /// Any `message` object (`{"mid": …, "attachments": …, "reply_to": …}`) from a customer, as Meta wraps it.
    public static func message(
        from sender: String, _ message: JSONValue, timestamp: EpochMillis = nowMillis(), account: String = accountId
    ) -> Data {
        envelope(account: account, items: [
            [
                "sender": ["id": .string(sender)], "recipient": ["id": .string(account)],
                "timestamp": .number(Double(timestamp)), "message": message,
            ]
        ])
    }

    /// One attachment as Meta sends it: `{"type": …, "payload": {"url": …, "title": …}}`.
    public static func attachment(_ type: String, url: String?, title: String? = nil) -> JSONValue {
        var payload: [String: JSONValue] = [:]
        if let url { payload["url"] = .string(url) }
        if let title { payload["title"] = .string(title) }
        return ["type": .string(type), "payload": .object(payload)]
    }

    /// A message with attachments and no text (a photo, a voice note, a shared reel, a story mention…).
    public static func attachments(
        from sender: String, mid: String, _ attachments: [JSONValue], timestamp: EpochMillis = nowMillis(), account: String = accountId
    ) -> Data {
        message(from: sender, ["mid": .string(mid), "attachments": .array(attachments)], timestamp: timestamp, account: account)
    }

    /// A reply to one of our stories: `message.reply_to.story`.
    public static func storyReply(
        from sender: String, text: String, mid: String, storyURL: String, storyId: String = "18012345678901234",
        timestamp: EpochMillis = nowMillis(), account: String = accountId
    ) -> Data {
        message(
            from: sender,
            ["mid": .string(mid), "text": .string(text), "reply_to": ["story": ["url": .string(storyURL), "id": .string(storyId)]]],
            timestamp: timestamp, account: account)
    }

    /// The customer unsent a message: `message.is_deleted`, the mid only.
    public static func unsend(from sender: String, mid: String, timestamp: EpochMillis = nowMillis(), account: String = accountId) -> Data {
        message(from: sender, ["mid": .string(mid), "is_deleted": true], timestamp: timestamp, account: account)
    }

    public static func envelope(account: String = accountId, items: [JSONValue]) -> Data {
        let body: JSONValue = [
            "object": "instagram",
            "entry": [["id": .string(account), "time": .number(Double(nowMillis())), "messaging": .array(items)]],
        ]
        return body.encoded()
    }

    public static func sign(_ body: Data, secret: String = testAppSecret) -> String {
        WebhookSignature.header(secret: secret, body: body)
    }
}
