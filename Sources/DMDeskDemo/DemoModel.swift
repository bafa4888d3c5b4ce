import DMDeskCore
import Foundation

/// The model `dmdesk demo --agent` talks to: a few lines of keyword logic behind a real chat-completions
/// endpoint, so the agent's whole path (request, tool calls, results, steps in the console) runs with no network.
/// It answers each batch with one round of tool calls and ends its turn when it sees their results.
public enum DemoModel {
    public static func answer(_ request: JSONValue) -> FakeChatCompletions.Answer {
        let messages = request["messages"]?.arrayValue ?? []
        guard let last = messages.last, last["role"]?.stringValue == "user", let content = last["content"]?.stringValue else {
            return .text("")
        }
        // The batch arrives as lines "[id: MID] text".
        var ids: [String] = []
        var texts: [String] = []
        for line in content.split(separator: "\n") {
            guard line.hasPrefix("[id: "), let close = line.firstIndex(of: "]") else { continue }
            ids.append(String(line[line.index(line.startIndex, offsetBy: 5)..<close]))
            texts.append(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
        }
        let said = texts.joined(separator: " ").lowercased()
        func mentions(_ words: [String]) -> Bool { words.contains { said.contains($0) } }

        if mentions(["human", "person", "talk to", "doesn't help", "refund", "manager"]) {
            let quote = texts.last.map { $0.count > 80 ? String($0.prefix(80)) + "…" : $0 } ?? ""
            return .tools([.init("handover", ["reason": .string("asked for a person: \"\(quote)\"")])])
        }
        var calls: [FakeChatCompletions.Call] = []
        if let id = ids.last, mentions(["thank", "love", "ありがとう", "😍"]) {
            calls.append(.init("react", ["message_id": .string(id), "reaction": "love"]))
        }
        calls.append(.init("send_message", ["text": .string(reply(to: said))]))
        return .tools(calls)
    }

    static func reply(to said: String) -> String {
        let answers: [([String], String)] = [
            (["stock", "size"], "Yes, the blue hoodie is in stock in S, M and L. Shall I keep an M for you? 💙"),
            (["order"], "Order #4821 left our warehouse on Monday; it should reach you within 2 days 📦"),
            (["ship"], "We ship worldwide. Japan takes 5–7 days, Osaka included, and costs ¥1,200 🇯🇵"),
            (["hours", "open"], "We're open Monday to Saturday, 10:00–19:00 🕙"),
            (["price", "how much"], "The winter collection starts at €49; every price is on our page."),
            (["attachment", "jacket"], "Nice photo! Yes, that's our Trail jacket 👍"),
        ]
        return answers.first { keys, _ in keys.contains { said.contains($0) } }?.1
            ?? "Thanks for your message! How can I help you today?"
    }
}
