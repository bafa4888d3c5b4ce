import AsyncHTTPClient
import DMDeskCore
import Foundation
import NIOCore

/// Customers who write to the demo shop: names for the Graph stand-in's profiles, and what each says when.
public enum DemoScript {
    public struct Customer: Sendable {
        public var id: String
        public var name: String
        public var username: String
    }

    public enum Action: Sendable {
        case text(String)
        case image(url: String)
        /// A voice note: an `audio` attachment.
        case voiceNote(url: String)
        case storyReply(String, storyURL: String)
        case postback(title: String, payload: String)
        /// The customer takes back the message of the step at this index.
        case unsend(step: Int)
        /// A comment under one of the shop's posts (the `comments` webhook field); its id is the step's mid.
        case comment(String)
    }

    public struct Step: Sendable {
        public var after: Double
        public var customer: Customer
        public var action: Action
    }

    public static let maya = Customer(id: "5521000000000001", name: "Maya Chen", username: "maya.makes")
    public static let jonas = Customer(id: "5521000000000002", name: "Jonas Berg", username: "jonas_runs")
    public static let aiko = Customer(id: "5521000000000003", name: "佐藤 愛子", username: "aiko.sato")
    public static let leo = Customer(id: "5521000000000004", name: "Leo Martins", username: "leo.builds")
    public static let priya = Customer(id: "5521000000000005", name: "Priya Nair", username: "priya.designs")
    public static let customers = [maya, jonas, aiko, leo, priya]

    /// Seconds are at speed 1: a human pace.
    public static let steps: [Step] = [
        Step(after: 1.5, customer: maya, action: .text("Hi! Is the blue hoodie still in stock? 💙")),
        Step(after: 4, customer: jonas, action: .text("Where is my order #4821? It's been 5 days 📦")),
        Step(after: 3, customer: maya, action: .text("I'd need it in size M")),
        Step(after: 5, customer: aiko, action: .text("こんにちは! How much is shipping to Japan? 🇯🇵")),
        Step(after: 6, customer: leo, action: .image(url: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=demo-photo")),
        Step(after: 2, customer: leo, action: .text("Is this the same jacket as on your page? 👍🏽")),
        Step(after: 6, customer: priya, action: .storyReply("love this!! how much? 😍", storyURL: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=demo-story")),
        Step(after: 7, customer: jonas, action: .text("That doesn't help. Can I talk to a human please?")),
        Step(after: 6, customer: priya, action: .text("And what are your opening hours?")),
        Step(after: 9, customer: aiko, action: .text("ありがとう! Do you also ship to Osaka? 👨‍👩‍👧 it's for my family")),
        Step(after: 10, customer: maya, action: .postback(title: "Talk to a human", payload: "HUMAN_AGENT")),
        Step(after: 12, customer: leo, action: .text("Thanks! What are the prices for the winter collection?")),
        Step(after: 5, customer: maya, action: .voiceNote(url: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=demo-voice")),
        Step(after: 6, customer: jonas, action: .text("ugh, my card number is 4111 1111 1111 1111")),
        Step(after: 4, customer: jonas, action: .unsend(step: 13)),
        // A comment under a post, answered privately by the seeded comment rule ("price"): it becomes a DM thread.
        Step(after: 5, customer: priya, action: .comment("PRICE? 😍")),
    ]

    /// `earlier` holds the mids given to the steps before (an unsend names one).
    public static func body(for step: Step, account: String, mid: String, timestamp: EpochMillis, earlier: [String] = []) -> Data {
        if case .comment(let text) = step.action {
            return WebhookBuilder.comment(
                id: mid, text: text, fromId: step.customer.id, username: step.customer.username, mediaId: "17900000000004242",
                at: timestamp, account: account)
        }
        var item: JSONValue = [
            "sender": ["id": .string(step.customer.id)], "recipient": ["id": .string(account)],
            "timestamp": .number(Double(timestamp)),
        ]
        guard case .object(var fields) = item else { return Data() }
        switch step.action {
        case .text(let text):
            fields["message"] = ["mid": .string(mid), "text": .string(text)]
        case .image(let url):
            fields["message"] = ["mid": .string(mid), "attachments": [["type": "image", "payload": ["url": .string(url)]]]]
        case .storyReply(let text, let storyURL):
            fields["message"] = ["mid": .string(mid), "text": .string(text), "reply_to": ["story": ["url": .string(storyURL), "id": "demo-story-1"]]]
        case .voiceNote(let url):
            fields["message"] = ["mid": .string(mid), "attachments": [WebhookBuilder.attachment("audio", url: url)]]
        case .postback(let title, let payload):
            fields["postback"] = ["mid": .string(mid), "title": .string(title), "payload": .string(payload)]
        case .unsend(let index):
            fields["message"] = ["mid": .string(index < earlier.count ? earlier[index] : mid), "is_deleted": true]
        case .comment:
            break  // answered above
        }
        item = .object(fields)
        return WebhookBuilder.envelope(account: account, items: [item])
    }
}

/// Posts the demo script as signed webhooks to a listener, at a human pace divided by `speed`.
public struct DemoSimulator: Sendable {
    public var listenerURL: String
    public var appSecret: String
    public var account: String
    public var speed: Double

    public init(listenerURL: String, appSecret: String, account: String = WebhookBuilder.accountId, speed: Double = 1) {
        self.listenerURL = listenerURL
        self.appSecret = appSecret
        self.account = account
        self.speed = max(speed, 0.01)
    }

    /// Runs the script once, then, with a `crowd`, its customers until cancelled (`introduce` is told of each new
    /// one before it writes, so the Graph stand-in can answer its profile). Returns how many deliveries were
    /// answered 200.
    @discardableResult
    public func run(
        steps: [DemoScript.Step] = DemoScript.steps, crowd: DemoCrowd? = nil,
        introduce: @Sendable (DemoScript.Customer) -> Void = { _ in },
        comment: @Sendable (_ id: String, _ from: String) -> Void = { _, _ in }
    ) async -> Int {
        var accepted = 0
        var mids: [String] = []
        for (index, step) in steps.enumerated() {
            guard await pause(step.after) else { return accepted }
            let mid = Self.mid(index)
            // Meta knows the comments under the account's posts: so must the Graph stand-in, before it is answered.
            if case .comment = step.action { comment(mid, step.customer.id) }
            let body = DemoScript.body(for: step, account: account, mid: mid, timestamp: nowMillis(), earlier: mids)
            mids.append(mid)
            if await post(body) { accepted += 1 }
        }
        guard var crowd else { return accepted }
        var index = steps.count
        while true {
            let (step, newCustomer) = crowd.next()
            guard await pause(step.after) else { return accepted }
            if let newCustomer { introduce(newCustomer) }
            if await post(DemoScript.body(for: step, account: account, mid: Self.mid(index), timestamp: nowMillis())) { accepted += 1 }
            index += 1
        }
    }

    /// A new message id for the `index`th step (unique across runs on one data directory).
    private static func mid(_ index: Int) -> String { "demo.\(index).\(UUID().uuidString.prefix(8))" }

    /// Waits `seconds` at speed 1; false once the simulation is cancelled.
    private func pause(_ seconds: Double) async -> Bool {
        try? await Task.sleep(for: .milliseconds(Int(seconds * 1000 / speed)))
        return !Task.isCancelled
    }

    public func post(_ body: Data) async -> Bool {
        var request = HTTPClientRequest(url: listenerURL + "/webhooks/instagram")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Hub-Signature-256", value: WebhookSignature.header(secret: appSecret, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)) else { return false }
        _ = try? await response.body.collect(upTo: 1 << 16)
        return response.status.code == 200
    }
}
