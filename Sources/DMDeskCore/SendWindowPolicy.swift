import Foundation

/// Meta's messaging window: a reply may go out within 24 hours of the customer's last message; with the HUMAN_AGENT
/// tag (`DMDESK_HUMAN_AGENT_TAG=true`) a person — never the bot, the agent or an acknowledgement — may still reply
/// until 7 days after it. The daemon decides with this before queuing and again before each call; the console shows
/// both clocks with it.
public struct SendWindowPolicy: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        /// Inside the 24-hour window: sent as an ordinary reply, no tag.
        case standard
        /// The window has closed, but a person may still reply with the HUMAN_AGENT tag.
        case humanAgentTag
        /// Neither allows a message now.
        case refused
    }

    public static let standardWindowMillis: EpochMillis = 24 * 3_600_000
    public static let humanAgentWindowMillis: EpochMillis = 7 * 24 * 3_600_000

    public var humanAgentTag: Bool

    public init(humanAgentTag: Bool) { self.humanAgentTag = humanAgentTag }

    /// What a message written by `author` may do now. Only an operator's message may carry the tag.
    public func check(lastInboundAt: EpochMillis?, author: MessageAuthor = .operator, now: EpochMillis = nowMillis()) -> Decision {
        guard let last = lastInboundAt else { return .refused }
        // Overflow-safe: a timestamp from elsewhere (an old journal, a script) can be any Int64.
        let (age, overflow) = now.subtractingReportingOverflow(last)
        if overflow { return last > now ? .standard : .refused }
        if age <= Self.standardWindowMillis { return .standard }
        if humanAgentTag && author == .operator && age <= Self.humanAgentWindowMillis { return .humanAgentTag }
        return .refused
    }

    /// Milliseconds left for an operator's reply with the HUMAN_AGENT tag, or nil when the tag is off or 7 days passed.
    public func humanAgentRemaining(lastInboundAt: EpochMillis?, now: EpochMillis = nowMillis()) -> EpochMillis? {
        guard humanAgentTag, let last = lastInboundAt else { return nil }
        let (end, endOverflows) = last.addingReportingOverflow(Self.humanAgentWindowMillis)
        if endOverflows { return .max }
        let (left, leftOverflows) = end.subtractingReportingOverflow(now)
        if leftOverflows { return end > now ? .max : nil }
        return left > 0 ? left : nil
    }

    /// Why an operator's reply is refused now, in words an operator can act on; nil when it is allowed.
    public func refusal(lastInboundAt: EpochMillis?, now: EpochMillis = nowMillis()) -> String? {
        guard check(lastInboundAt: lastInboundAt, author: .operator, now: now) == .refused else { return nil }
        if lastInboundAt == nil {
            return "the customer has never written; Instagram only allows replies to people who wrote to you"
        }
        return humanAgentTag
            ? "the customer last wrote over 7 days ago; Instagram allows no reply until they write again"
            : "the customer last wrote over 24 hours ago; Instagram allows no reply until they write again (DMDESK_HUMAN_AGENT_TAG=true lets a person reply within 7 days)"
    }
}
