import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation

/// Decides what the bot does with one batch of a thread's messages, in this order:
/// 1. human mode → nothing is sent; the thread waits for an operator;
/// 2. handover (a rule with action handover/both, or a button whose payload asks for a person: HUMAN_AGENT) → human
///    mode, the manager is told on WhatsApp, the customer gets `DMDESK_HANDOVER_TEXT`;
/// 3. onboarding (`DMDESK_ONBOARDING=verify-link`): an unconnected profile gets a verification link and nothing else;
///    a connected one gets `DMDESK_ACK_TEXT` first;
/// 4. keyword rules: the rule a tapped button names (`ButtonPayload.rule`, ice breakers and menu entries), else the
///    first match by priority;
/// 5. the fallback reply, at most once per thread per `DMDESK_FALLBACK_COOLDOWN`; outside `DMDESK_BUSINESS_HOURS` the
///    away text instead, once per thread in each closed period.
/// It only decides; the store (`claimAndComplete`, `completeBatches`) applies the plan atomically.
///
/// With the agent responder (`agentAnswers`), steps 1, the buttons (take over, a named rule) and the verification
/// link stay as they are; everything else is handed off to the agent, which falls back to this plan if its
/// endpoint fails.
struct Responder: Sendable {

    var fallbackReply: String
    var fallbackCooldown: EpochMillis?
    var businessHours: BusinessHours?
    var awayText: String
    /// The time the polite bot's rules are judged at (tests set it).
    var clock: @Sendable () -> EpochMillis
    var handoverText: String
    var onboarding: Bool
    var verifyURL: String
    var ackText: String
    /// Where manager notifications go; nil when WhatsApp is not configured (the handover still happens).
    var managerNumber: String?

    init(config: DMDeskConfig, clock: @escaping @Sendable () -> EpochMillis = nowMillis) {
        fallbackReply = config.fallbackReply
        fallbackCooldown = config.fallbackCooldown?.milliseconds
        businessHours = config.businessHours
        awayText = config.awayText
        self.clock = clock
        handoverText = config.handoverText
        onboarding = config.onboardingVerifyLink
        verifyURL = config.verifyURL
        ackText = config.ackText
        managerNumber = config.whatsappPhoneNumberId != nil ? config.managerWhatsAppNumber : nil
    }

    func plan(_ batch: ClaimedBatch, rules: RuleSet, agentAnswers: Bool = false) -> BatchPlan {
        var plan = BatchPlan(thread: batch.thread, mids: batch.mids, plannedMode: batch.mode, reason: "")
        // 1. A person has the thread: the bot stays out of it.
        if batch.mode == .human {
            plan.awaitOperator = true
            plan.reason = "human mode"
            return plan
        }
        let buttons = batch.messages.compactMap { $0.payload.map(ButtonPayload.init) }
        var others: [String] = []
        var named: CompiledRule?
        for button in buttons {
            switch button {
            case .rule(let id): named = named ?? rules.rule(id: id)
            case .other(let payload): others.append(payload)
            case .takeover: break
            }
        }
        // A button naming a rule is an explicit choice: it holds with the agent too.
        let rule = named ?? (agentAnswers ? nil : rules.firstMatch(batch.messages.compactMap(\.text) + others))

        // 2. Handover.
        let postback = buttons.contains(.takeover)
        if postback || rule?.action.handsOver == true {
            plan.handover = true
            plan.awaitOperator = true
            plan.reason = postback ? "postback \(ButtonPayload.takeoverPayload)" : "rule \(rule?.record.id ?? 0) (handover)"
            if let rule, rule.action == .both, let reply = rule.record.reply, !reply.isEmpty {
                plan.drafts += replies(reply, thread: batch.thread)
            }
            plan.drafts += handoverDrafts(thread: batch.thread, managerText: managerText(batch))
            return plan
        }

        // 3. Onboarding.
        if onboarding {
            if !batch.connected {
                let token = VerificationTokens.generate()
                let link = VerificationTokens.link(template: verifyURL, token: token, igId: batch.thread)
                let eventId = batch.messages.first?.mid ?? UUID().uuidString
                plan.verification = BatchPlan.Verification(
                    tokenHash: VerificationTokens.hash(token), eventId: eventId,
                    draft: OutboundDraft(
                        thread: batch.thread, recipient: batch.thread, kind: .verification,
                        text: "Please connect your account to continue: \(link)", author: .bot))
                plan.reason = "onboarding: verification link"
                return plan
            }
            if !agentAnswers || named != nil { plan.drafts += replies(ackText, thread: batch.thread, kind: .acknowledgement) }
        }
        if agentAnswers && named == nil {
            plan.handOff = true
            plan.reason = "agent"
            return plan
        }

        // 4. Keyword rules, 5. fallback.
        if let rule, let reply = rule.record.reply, !reply.isEmpty {
            plan.drafts += replies(reply, thread: batch.thread)
            plan.reason = "rule \(rule.record.id ?? 0)"
        } else {
            politeFallback(batch, into: &plan)
        }
        return plan
    }

    /// The away text once per closed period, else the fallback once per cooldown; otherwise nothing (the customer
    /// was already told, and the thread is still in the inbox for a person).
    private func politeFallback(_ batch: ClaimedBatch, into plan: inout BatchPlan) {
        let now = clock()
        if let closedSince = businessHours?.closedSince(now) {
            if let last = batch.lastAwayAt, last >= closedSince {
                plan.reason = "closed (away text already sent in this closed period)"
                return
            }
            plan.drafts += replies(awayText, thread: batch.thread)
            plan.awayAt = now
            plan.reason = "closed: away text"
            return
        }
        if let cooldown = fallbackCooldown, let last = batch.lastFallbackAt, now - last < cooldown {
            plan.reason = "fallback already sent \((now - last) / 1000) s ago (cooldown)"
            return
        }
        plan.drafts += replies(fallbackReply, thread: batch.thread)
        plan.fallbackAt = now
        plan.reason = "fallback"
    }

    /// The customer gets `DMDESK_HANDOVER_TEXT`; the manager, when WhatsApp is configured, gets `managerText`.
    func handoverDrafts(thread: String, managerText: String) -> [OutboundDraft] {
        var drafts = replies(handoverText, thread: thread)
        if let managerNumber {
            drafts.append(
                OutboundDraft(
                    thread: thread, recipient: managerNumber, kind: .managerNotification, channel: .whatsapp,
                    text: managerText, author: .system))
        }
        return drafts
    }

    /// An auto-reply over Instagram's 1000-byte limit goes out as several messages, split at word boundaries.
    func replies(_ text: String, thread: String, kind: OutboundKind = .autoReply) -> [OutboundDraft] {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return [] }
        return splitForSend(text).map { piece in
            OutboundDraft(thread: thread, recipient: thread, kind: kind, text: piece, author: .bot)
        }
    }

    func managerText(_ batch: ClaimedBatch) -> String {
        let last = batch.messages.reversed().compactMap { $0.text?.isEmpty == false ? $0.text : nil }.first ?? "(no text)"
        let quoted = last.count > 300 ? String(last.prefix(300)) + "…" : last
        return "dmdesk: \(batch.displayName) (\(batch.thread)) asked for a person on Instagram: \"\(quoted)\""
    }
}
