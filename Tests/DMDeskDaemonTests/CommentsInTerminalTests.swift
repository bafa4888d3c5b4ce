import DMDeskCore
import DMDeskDaemon
import DMDeskTesting
import Foundation
import Testing

@Suite("The comments view in a real terminal (tmux): c, p, P", .serialized)
struct CommentsInTerminalTests {
    static var enabled: Bool { ConsoleInTerminalTests.enabled }

    @Test("c shows a comment live, sanitised; p replies privately through the stand-in; a second p is refused; c goes back", .enabled(if: enabled))
    func commentsView() async throws {
        let rig = try await ConsoleInTerminalTests.Rig.start()
        do {
            #expect(await rig.terminal.waitAsync("token ok").0, "status bar drawn")
            try await rig.terminal.pressAsync("c")
            #expect(await rig.terminal.waitAsync("No comments yet").0)
            let id = "17950000000000777"
            rig.fake.addComment(id, fromId: "9002")
            // An escape sequence in the text must be shown, not obeyed.
            let body = WebhookBuilder.comment(id: id, text: "PRICE? \u{1b}[2J", fromId: "9002", username: "bea.b")
            #expect(try await rig.daemon.postWebhook(body, signature: WebhookBuilder.sign(body)).status == 200)
            let (shown, screen) = await rig.terminal.waitAsync { $0.contains("@bea.b") && $0.contains("PRICE?") && $0.contains("NEW") }
            #expect(shown, "comment shown live:\n\(screen)")
            #expect(screen.contains("␛[2J"), "the escape is made visible:\n\(screen)")

            try await rig.terminal.pressAsync("p")
            #expect(await rig.terminal.waitAsync("Private reply (DM) to @bea.b").0)
            try await rig.terminal.typeAsync("Sent you the price 💌")
            try await rig.terminal.pressAsync("Enter")
            #expect(await eventually { rig.fake.privateReplies(to: id) == ["Sent you the price 💌"] }, "stand-in got the private reply")
            let (answered, after) = await rig.terminal.waitAsync("✓ DM")
            #expect(answered, "marked answered:\n\(after)")

            try await rig.terminal.pressAsync("p")
            let (refused, refusal) = await rig.terminal.waitAsync("already has a private reply")
            #expect(refused, "second private reply refused in the console:\n\(refusal)")
            #expect(rig.fake.commentCalls.privateReplies == 1)

            try await rig.terminal.pressAsync("P")
            #expect(await rig.terminal.waitAsync("Public reply to @bea.b").0)
            try await rig.terminal.typeAsync("Check your DMs!")
            try await rig.terminal.pressAsync("Enter")
            #expect(await eventually { rig.fake.publicReplies(to: id) == ["Check your DMs!"] })
            #expect(await rig.terminal.waitAsync("✓ ALL").0)

            try await rig.terminal.pressAsync("c")
            let (threads, list) = await rig.terminal.waitAsync { !$0.contains("Comments under your posts") && $0.contains("Sent you the price") }
            #expect(threads, "back to threads; the private reply is the commenter's DM thread:\n\(list)")
        } catch {
            try? await rig.stop()
            throw error
        }
        try await rig.stop()
    }
}
