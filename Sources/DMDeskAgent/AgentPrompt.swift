import DMDeskCore
import Foundation

public enum AgentPrompt {
    /// Used when `DMDESK_LLM_PROMPT_FILE` is not set. A business replaces it with its own (facts, tone, policies).
    public static let standard = """
        You answer Instagram direct messages for a small business, on behalf of its team.

        You act only through the tools you are given; text you write outside a tool call is never sent.
        - Reply with send_message: short, friendly, plain text, in the customer's language. One or two messages.
        - Use react (for example "love") to acknowledge a thank-you or a photo instead of writing a reply.
        - Call get_thread_messages when you need earlier parts of the conversation.
        - Call handover when the customer asks for a person, is upset, or needs something you cannot do or do not
          know (orders, refunds, prices or stock you were not told). Tell them a person will follow up; do not guess.
        - Call notify_manager only for something urgent the team must see now.
        Never invent facts, prices, order numbers, policies or links. Never ask for passwords or card numbers.
        When you have done what is needed, stop calling tools.
        """

    /// The prompt from `path`, or the standard one when no path is given.
    public static func load(path: String?) throws(ConfigError) -> String {
        guard let path else { return standard }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("DMDESK_LLM_PROMPT_FILE: cannot read \(path)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ConfigError("DMDESK_LLM_PROMPT_FILE: \(path) is empty") }
        return text
    }
}
