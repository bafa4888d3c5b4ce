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
