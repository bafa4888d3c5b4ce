import DMDeskControl
import DMDeskCore
import DMDeskStore
import Foundation

/// Queues a WhatsApp message to the manager.
struct ManagerNotifier {
    let config: DMDeskConfig
    let store: any InboxStore
    let fanOut: FanOut

    func enqueue(text: String, thread: String?) async throws -> OutboxChange {
        guard let to = config.managerWhatsAppNumber else {
            throw ControlError(code: "not_configured", message: "MANAGER_WHATSAPP_NUMBER is not set")
        }
        guard config.whatsappPhoneNumberId != nil else {
            throw ControlError(code: "not_configured", message: "WHATSAPP_PHONE_NUMBER_ID is not set")
        }
        let change = try await store.enqueue(
            OutboundDraft(thread: thread, recipient: to, kind: .managerNotification, channel: .whatsapp, text: text, author: .system))
        fanOut.publish(change.events)
        fanOut.submit(change.record)
        return change
    }
}
