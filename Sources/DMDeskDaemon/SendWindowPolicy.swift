import DMDeskCore
import Foundation

/// Meta's messaging window: 24 hours after the customer's last message, or 7 days with the HUMAN_AGENT tag.
struct SendWindowPolicy {
    enum Decision { case standard, humanAgentTag, refused }
    var humanAgentTag: Bool

    func check(lastInboundAt: EpochMillis?, now: EpochMillis = nowMillis()) -> Decision {
        guard let last = lastInboundAt else { return .refused }
        let age = now - last
        if age <= 24 * 3_600_000 { return .standard }
        if humanAgentTag && age <= 7 * 24 * 3_600_000 { return .humanAgentTag }
        return .refused
    }
}
