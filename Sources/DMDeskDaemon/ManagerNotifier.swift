import DMDeskControl
import DMDeskCore
import DMDeskStore
import Foundation

/// Queues a WhatsApp message to the manager.
struct ManagerNotifier {
    let runtime: DaemonRuntime

    func enqueue(text: String, thread: String?) async throws -> OutboxChange {
        guard let to = runtime.config.managerWhatsAppNumber else {
            throw ControlError(code: "not_configured", message: "MANAGER_WHATSAPP_NUMBER is not set")
        }
        guard runtime.config.whatsappPhoneNumberId != nil else {
            throw ControlError(code: "not_configured", message: "WHATSAPP_PHONE_NUMBER_ID is not set")
        }
        let change = try await runtime.store.enqueue(
            OutboundDraft(thread: thread, recipient: to, kind: .managerNotification, channel: .whatsapp, text: text, author: .system))
        runtime.publish(change.events)
        runtime.outbox.submit(change.record)
        return change
    }
}
