import Foundation

/// The customers who keep writing once the demo's script has played: a new conversation every few seconds (at
/// speed 1), from a generated customer with an opening line, sometimes a second line, a photo or a story reply,
/// and now and then a customer who wrote before coming back. Deterministic for a seed, endless, and bounded: after
/// `maxNewCustomers` only returning customers write, so a demo left running for days does not grow without end.
public struct DemoCrowd: Sendable {
    public static let maxNewCustomers = 400

    private var random: SplitMix64
    private(set) public var customers: [DemoScript.Customer] = []
    private var pending: [DemoScript.Step] = []

    public init(seed: UInt64 = 0x0D3D_E5C0) { random = SplitMix64(seed: seed) }

    /// The next step; `newCustomer` is set when it introduces a customer (the Graph stand-in learns the profile).
    public mutating func next() -> (step: DemoScript.Step, newCustomer: DemoScript.Customer?) {
        if !pending.isEmpty { return (pending.removeFirst(), nil) }
        let returning = customers.count >= Self.maxNewCustomers || (customers.count >= 3 && roll(0.2))
        if returning {
            let customer = customers[Int(random.next() % UInt64(customers.count))]
            return (DemoScript.Step(after: pause(3...8), customer: customer, action: .text(pick(Self.comebacks))), nil)
        }
        let customer = makeCustomer()
        customers.append(customer)
        let opening = DemoScript.Step(after: pause(3...7), customer: customer, action: openingAction())
        if roll(0.45) {
            pending.append(DemoScript.Step(after: pause(1...4), customer: customer, action: .text(pick(Self.followUps))))
        }
        return (opening, customer)
    }

    private mutating func makeCustomer() -> DemoScript.Customer {
        let first = pick(Self.firstNames), last = pick(Self.lastNames)
        let number = customers.count + 1
        let handle = "\(first.lowercased().filter(\.isLetter)).\(last.lowercased().filter(\.isLetter))\(number)"
        // Ids beside the script's 5521000000000001-5 but never equal to them.
        return DemoScript.Customer(id: String(5_521_000_000_100_000 + number), name: "\(first) \(last)", username: handle)
    }

    private mutating func openingAction() -> DemoScript.Action {
        switch random.next() % 10 {
        case 0: return .image(url: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=demo-crowd-\(random.next() % 1000)")
        case 1:
            return .storyReply(pick(Self.storyReplies),
                               storyURL: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=demo-crowd-story-\(random.next() % 1000)")
        default: return .text(pick(Self.openers))
        }
    }

    private mutating func roll(_ chance: Double) -> Bool { Double(random.next() % 1000) < chance * 1000 }

    private mutating func pause(_ seconds: ClosedRange<Int>) -> Double {
        let span = UInt64((seconds.upperBound - seconds.lowerBound) * 10 + 1)
        return Double(seconds.lowerBound) + Double(random.next() % span) / 10
    }

    private mutating func pick(_ options: [String]) -> String { options[Int(random.next() % UInt64(options.count))] }

    static let firstNames = [
        "Ana", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Gabriel", "Hana", "Ines", "Jakub", "Kofi", "Lena", "Mateo",
        "Noor", "Oscar", "Paula", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera", "Wei", "Ximena", "Yusuf", "Zoë",
        "Søren", "Ayşe", "Nguyễn", "Олена",
    ]
    static let lastNames = [
        "Silva", "Okafor", "Müller", "Kowalski", "Haddad", "Tanaka", "Rossi", "Dubois", "Andersen", "García", "Kim",
        "Novak", "Schmidt", "Costa", "Yilmaz", "Patel", "Moreau", "Lindqvist", "O'Brien", "Ivanova",
    ]
    /// Some match the starter rules (price, shipping, order, hours, a human), some only the fallback answers.
    static let openers = [
        "Hi, how much is the canvas tote?", "Do you ship to Canada? 🇨🇦", "Where is my order #5021? No tracking yet",
        "Are you open on Sundays?", "Hello!! Love your shop 😍", "Can I talk to a real person please?",
        "Is the green scarf coming back in stock?", "What's the price of the wool beanie?",
        "My parcel arrived damaged 😞 what do I do?", "Do you do gift wrapping? 🎁", "Bonjour ! Livrez-vous en France ?",
        "Hola, ¿cuánto cuesta el envío a España?", "Can I change the size on my order?",
        "What are your opening hours this week?", "Is there a student discount?", "Do you have this in XL?",
        "hey, is the sale still on??", "How long does delivery take to Berlin?", "Can I pick up in store today?",
        "I was charged twice 😬", "Are your mugs dishwasher safe?", "Merhaba! Türkiye'ye gönderim var mı?",
    ]
    static let followUps = [
        "Thanks!", "It's for a birthday on Friday", "Size M please", "Order number is #5123", "🙏", "ok great",
        "Also, do you take PayPal?", "Sorry, one more question", "👍🏽", "I can send a photo if that helps",
    ]
    static let comebacks = [
        "Hi again! It arrived, thank you 🎉", "One more question about my order", "Any update?",
        "Thanks, that worked!", "Can I order two more?", "Still waiting on a reply 🙂",
    ]
    static let storyReplies = ["😍", "is this available??", "how much is this one?", "need this 🔥", "Where can I buy it?"]
}
