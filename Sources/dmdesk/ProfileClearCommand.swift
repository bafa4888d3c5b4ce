import ArgumentParser
import DMDeskCore
import DMDeskGraph

/// `dmdesk profile ice-breakers clear`, `dmdesk profile menu clear`: removes the field from the profile.
struct ProfileClearCommand<Kind: ProfileFieldKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "clear", abstract: "Remove the \(Kind.field.title) from the account.")
    }
    @OptionGroup var options: ProfileOptions

    func run() async throws {
        let config = options.load()
        let graph = options.graph(config)
        await options.calling("clear the \(Kind.field.title)") { () async throws(GraphError) in
            try await graph.deleteMessengerProfile(fields: [Kind.field])
        }
        if options.json { return print(JSONValue.object(["cleared": .string(Kind.field.rawValue)]).encodedString()) }
        print("cleared the \(Kind.field.title)")
    }
}
