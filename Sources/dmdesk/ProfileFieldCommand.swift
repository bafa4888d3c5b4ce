import ArgumentParser
import DMDeskCore

/// `dmdesk profile ice-breakers …` and `dmdesk profile menu …`: set from a TOML file, or clear.
struct ProfileFieldCommand<Kind: ProfileFieldKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: Kind.commandName,
            abstract: "Set or clear the account's \(Kind.field.title).",
            discussion: "A file looks like this:\n\n\(Kind.sample)",
            subcommands: [ProfileSetCommand<Kind>.self, ProfileClearCommand<Kind>.self])
    }
}
