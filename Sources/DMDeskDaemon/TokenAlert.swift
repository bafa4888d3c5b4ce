import DMDeskCore
import Logging

/// Tells the manager, once each time the token turns invalid (not once per failed send), that replies have stopped.
struct TokenAlert {
    let notifier: ManagerNotifier
    let config: DMDeskConfig
    let logger: Logger

    static func text(reason: String, account: String?) -> String {
        let short = reason.count > 300 ? String(reason.prefix(300)) + "…" : reason
        let whose = account.map { " for account \($0)" } ?? ""
        return "dmdesk: Instagram refused the access token\(whose) (\(short)). Replies to customers are not being sent. "
            + "Fix: run `dmdesk token refresh` on the server, or set a new INSTAGRAM_ACCESS_TOKEN and restart dmdesk."
    }

    func tell(_ reason: String) async {
        guard config.managerWhatsAppNumber != nil else {
            logger.warning("the access token is invalid and no manager is configured to tell (MANAGER_WHATSAPP_NUMBER)")
            return
        }
        do {
            _ = try await notifier.enqueue(text: Self.text(reason: reason, account: config.accountId), thread: nil)
            logger.notice("told the manager the access token is invalid")
        } catch {
            logger.error("could not tell the manager the access token is invalid", metadata: ["reason": "\(error)"])
        }
    }
}
