import ArgumentParser
import DMDeskCore
import Foundation

/// `dmdesk snooze THREAD --until WHEN | --until-reply | --cancel`: the thread leaves the default list until then.
struct SnoozeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snooze", abstract: "Snooze a thread until a time or until the customer writes again.",
        discussion: """
            WHEN is read in your time zone (TZ): 1h, 30m, 2d, tomorrow [HH:MM], monday [HH:MM] (or next monday), \
            HH:MM (today, or tomorrow once past), YYYY-MM-DD [HH:MM], or ISO 8601. A day without a time means 09:00. \
            Either way, the customer writing again ends the snooze. `dmdesk threads --status snoozed` lists them.
            """)
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The thread (the customer's Instagram id).") var thread: String
    @Option(help: ArgumentHelp("When the thread comes back.", valueName: "when")) var until: String?
    @Flag(name: .customLong("until-reply"), help: "Until the customer writes again, however long that takes.") var untilReply = false
    @Flag(help: "End the thread's snooze now.") var cancel = false

    func validate() throws {
        let given = [until != nil, untilReply, cancel].filter { $0 }.count
        guard given == 1 else { throw ValidationError("give one of --until WHEN, --until-reply or --cancel") }
        if let until, case .failure(let problem) = SnoozeTime.parse(until, now: nowMillis()) {
            throw ValidationError(problem.description)
        }
    }

    func run() throws {
        var request = ControlRequest(id: 1, type: .snooze, thread: thread)
        if let until, case .success(let ms) = SnoozeTime.parse(until, now: nowMillis()) { request.until = ms }
        request.cancel = cancel ? true : nil
        let result = script.call(request)
        if script.json { return script.printJSON(result) }
        guard let t = try? result["thread"]?.decode(ThreadSummary.self) else { return }
        if cancel { print("\(t.id): snooze ended (\(t.status.rawValue))"); return }
        let when = t.snoozedUntil.map { "until " + Render.time($0) } ?? "until the customer writes"
        print("\(t.id): snoozed \(when)")
    }
}
