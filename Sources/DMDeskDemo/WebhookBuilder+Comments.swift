import DMDeskCore
import Foundation

extension WebhookBuilder {
    /// A `comments` delivery as Meta sends it for a comment under one of the account's posts: `entry[].changes[]`
    /// with `field: "comments"`, the entry's `time` in seconds (the shape of the App Dashboard's test form, see
    /// `dashboard_test_changes.json`).
    public static func comment(
        id: String, text: String, fromId: String, username: String?, mediaId: String = "17900000000000001",
        mediaProductType: String = "FEED", parentId: String? = nil, at: EpochMillis = nowMillis(), account: String = accountId
    ) -> Data {
        var from: [String: JSONValue] = ["id": .string(fromId)]
        if let username { from["username"] = .string(username) }
        var value: [String: JSONValue] = [
            "id": .string(id), "text": .string(text), "from": .object(from),
            "media": ["id": .string(mediaId), "media_product_type": .string(mediaProductType)],
        ]
        if let parentId { value["parent_id"] = .string(parentId) }
        let body: JSONValue = [
            "object": "instagram",
            "entry": [[
                "id": .string(account), "time": .number(Double(at / 1000)),
                "changes": [["field": "comments", "value": .object(value)]],
            ]],
        ]
        return body.encoded()
    }
}
