import ArgumentParser
import DMDeskCore
import DMDeskGraph
import DMDeskStore
import Foundation

/// `dmdesk profile show|ice-breakers|menu`: the account's own surface in Instagram — the ice breakers a new
/// customer can tap and the persistent menu — through Meta's messenger profile API (`/me/messenger_profile`).
struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Show and set the account's ice breakers and persistent menu.",
        discussion: """
            Each button either answers with a keyword rule (`rule = ID`, see `dmdesk rules list`) or asks for a \
            person (`takeover = true`: the thread is handed over as a handover rule does); a menu button may also \
            open a link (`url = "https://…"`). Calls Meta with INSTAGRAM_ACCESS_TOKEN; no daemon is needed.
            """,
        subcommands: [
            ProfileShowCommand.self, ProfileFieldCommand<IceBreakersField>.self, ProfileFieldCommand<MenuField>.self,
        ],
        defaultSubcommand: ProfileShowCommand.self)
}

/// Ice breakers or the persistent menu: what their commands need to know.
protocol ProfileFieldKind {
    static var field: MessengerProfileField { get }
    static var commandName: String { get }
    static var sample: String { get }
}

enum IceBreakersField: ProfileFieldKind {
    static let field = MessengerProfileField.iceBreakers
    static let commandName = "ice-breakers"
    static let sample = """
        [[question]]
        text = "Where is my order?"
        rule = 3

        [[question]]
        text = "Can I talk to a person?"
        takeover = true
        """
}

enum MenuField: ProfileFieldKind {
    static let field = MessengerProfileField.persistentMenu
    static let commandName = "menu"
    static let sample = """
        [[button]]
        title = "Opening hours"
        rule = 5

        [[button]]
        title = "Talk to a person"
        takeover = true

        [[button]]
        title = "Shop"
        url = "https://shop.example.com"
        """
}

/// Options every profile command shares: the configuration (token, API base URL) and `--json`.
struct ProfileOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false

    func load() -> DMDeskConfig {
        do { return try global.load() } catch { fail("\(error)", code: ScriptExit.usage) }
    }

    /// The Graph client, or a clear exit when no token is configured.
    func graph(_ config: DMDeskConfig) -> GraphClient {
        guard config.accessToken != nil else {
            fail("INSTAGRAM_ACCESS_TOKEN is not set: the messenger profile is changed through Meta's API with the account's token")
        }
        return GraphClient(settings: GraphSettings(instagramBaseURL: config.apiBaseURL, accessToken: config.currentAccessToken()))
    }

    /// Runs one Graph call; Meta's refusal is printed (what it said, and what to check) and exits 1.
    func calling<T>(_ what: String, _ body: () async throws(GraphError) -> T) async -> T {
        do { return try await body() } catch {
            fail("could not \(what): \(error)\(error.isTokenInvalid ? " (check INSTAGRAM_ACCESS_TOKEN)" : "")")
        }
    }
}
