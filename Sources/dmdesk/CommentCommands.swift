import ArgumentParser
import DMDeskCore
import Foundation
import Glibc

struct CommentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comments", abstract: "List comments under your posts, newest first.",
        discussion: """
            Comments arrive through the `comments` webhook field (subscribe to it in Meta's App Dashboard, beside \
            `messages`). Each line: the comment id, the post (media id), @username, when, whether it is answered \
            (private, public, both or -), and the text. Answer one with `dmdesk comment-reply COMMENT_ID TEXT`.
            """)
    @OptionGroup var script: ScriptOptions
    @Flag(help: "Only comments with no reply yet (neither private nor public).") var unanswered = false
    @Option(help: "How many comments at most.") var limit = 200

    func validate() throws {
        if !(1...5000).contains(limit) { throw ValidationError("--limit takes 1 to 5000") }
    }

    func run() throws {
        var request = ControlRequest(id: 1, type: .comments, limit: limit)
        request.unanswered = unanswered
        let result = script.call(request)
        if script.json { return script.printJSON(result) }
        let comments = (try? result["comments"]?.decode([CommentView].self)) ?? []
        if comments.isEmpty { print(unanswered ? "no unanswered comments" : "no comments yet") }
        for c in comments { print(Self.line(c)) }
    }

    static func line(_ c: CommentView) -> String {
        let who = c.fromUsername.map { "@" + $0 } ?? c.fromId
        let answer = c.answer == .none ? "-" : c.answer.rawValue
        let text = Render.safe(c.text).replacingOccurrences(of: "\n", with: " ")
        return "\(c.id)\tpost \(c.mediaId ?? "?")\t\(Render.safe(who))\t\(Render.time(c.timestamp))\t\(answer)\t\(text.prefix(80))"
    }
}

struct CommentReplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comment-reply", abstract: "Answer a comment: privately by DM (default) or publicly (--public).",
        discussion: """
            A private reply is Meta's private reply: one DM to the commenter, allowed once per comment and within \
            7 days of it; it opens a DM thread with them, where the conversation continues (`dmdesk send`). dmdesk \
            checks both limits before calling Meta and exits 1 saying what to do instead. A public reply is posted \
            under the comment, as your account, and may be given at any time. Both go through the outbox: sent \
            once, retried on temporary errors. Waits for Instagram's answer (--wait) and exits 1 with its reason \
            if it refused.
            """)
    @OptionGroup var script: ScriptOptions
    @Argument(help: "The comment id (from `dmdesk comments`).") var comment: String
    @Argument(help: "The text (a private reply: at most 1000 UTF-8 bytes).") var text: String
    @Flag(name: .customLong("public"), help: "Reply publicly under the comment instead of by DM.") var publicly = false
    @Option(help: ArgumentHelp("Seconds to wait for Instagram's answer (0: return once queued).", valueName: "seconds"))
    var wait: Double = 30

    func validate() throws {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("give the text to send") }
        if !publicly, text.utf8.count > maxMessageBytes {
            throw ValidationError("the text is \(text.utf8.count) bytes; Instagram allows \(maxMessageBytes) in a DM")
        }
        if !(wait >= 0 && wait <= 3600) { throw ValidationError("--wait takes 0 to 3600 seconds") }
    }

    func run() throws {
        var request = ControlRequest(id: 1, type: .commentReply, text: text)
        request.comment = comment
        request.public = publicly
        let what = publicly ? "public reply" : "private reply"
        guard wait > 0 else { return script.printQueued(script.call(request), as: what) }
        let client = script.connect()
        defer { client.close() }
        do {
            // Subscribed first, so the row's outcome cannot be missed.
            _ = try client.request(ControlRequest(id: 1, type: .subscribe), timeout: 30)
            let result = try client.request(request, timeout: 30)
            guard let queued = try? result["outbound"]?.decode(OutboundView.self) else { return script.printJSON(result) }
            let settled = try outcome(of: queued.id, on: client) ?? queued
            if script.json { script.printJSON(["outbound": .from(settled)]) }
            switch settled.status {
            case .sent: if !script.json { print("sent \(what) (outbound \(queued.id))") }
            case .pending: if !script.json { print("queued \(what) (outbound \(queued.id)); still sending, the outbox keeps trying") }
            case .failed: fail("\(what) not sent (outbound \(queued.id)): \(settled.error ?? "refused")", code: ScriptExit.daemonError)
            }
        } catch ControlClientError.server(let error) {
            fail(error.message, code: ScriptExit.daemonError)
        } catch {
            fail("\(error)", code: ScriptExit.noDaemon)
        }
    }

    /// Follows `outbound.updated` until the row is sent or failed, or `wait` runs out.
    private func outcome(of id: Int64, on client: ControlClient) throws -> OutboundView? {
        let deadline = Date().addingTimeInterval(wait)
        while deadline.timeIntervalSinceNow > 0 {
            var pfd = pollfd(fd: client.fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Int32(min(deadline.timeIntervalSinceNow, 1) * 1000) + 1)
            for line in try client.readAvailable() where line.event == EventType.outboundUpdated {
                if let view = try? line.data?.decode(OutboundView.self), view.id == id, view.status != .pending { return view }
            }
        }
        return nil
    }
}
