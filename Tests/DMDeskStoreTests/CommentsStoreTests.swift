import DMDeskCore
import DMDeskStore
import DMDeskTesting
import Foundation
import Testing

@Suite("Store: comments and their replies")
struct CommentsStoreTests {
    let commenter = "3100000000000077"
    static let day: EpochMillis = 86_400_000

    func comment(_ id: String, _ text: String, from: String, at: EpochMillis = nowMillis()) throws -> [WebhookEvent] {
        try WebhookParser.parse(WebhookBuilder.comment(id: id, text: text, fromId: from, username: "cam", at: at)).events
    }

    @Test("a comment is stored once per id and journaled once; a private reply is queued once, in the commenter's thread", arguments: StoreEngine.all)
    func storedOnceAndAnsweredOnce(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let first = try await store.ingest(try comment("c_1", "PRICE?", from: commenter))
            #expect(first.storedComments == 1 && first.events.map(\.type) == [EventType.commentReceived])
            let again = try await store.ingest(try comment("c_1", "PRICE?", from: commenter))
            #expect(again.storedComments == 0 && again.duplicates == 1 && again.events.isEmpty)
            #expect(try await store.comments(CommentFilter()).map(\.id) == ["c_1"])
            #expect(try await store.thread(commenter) == nil, "a comment alone opens no thread")

            let queued = try await store.queueCommentReply(commentId: "c_1", text: "sent you a DM", publicly: false, author: .operator, now: nowMillis())
            let change = try queued.get()
            #expect(change.record.kind == .privateReply && change.record.recipient == "c_1" && change.record.thread_id == commenter)
            #expect(change.events.map(\.type).contains(EventType.commentUpdated))
            #expect(try await store.history(thread: commenter).map(\.text) == ["sent you a DM"])
            #expect(try await store.thread(commenter)?.username == "cam")

            let second = try await store.queueCommentReply(commentId: "c_1", text: "again", publicly: false, author: .operator, now: nowMillis())
            #expect(second.failure == .alreadyRepliedPrivately(commentId: "c_1"))
            #expect(try await store.comments(CommentFilter(unansweredOnly: true)).isEmpty)

            // A failed private reply does not count: the comment may be answered privately again.
            _ = await store.finishOutbound([OutboundResult(id: change.record.id!, status: .failed, attempts: 1, error: "x")])
            #expect(try await store.comment(id: "c_1")?.answer == CommentAnswer.none)
            #expect(try await store.comments(CommentFilter(unansweredOnly: true)).map(\.id) == ["c_1"])
            #expect((try? await store.queueCommentReply(commentId: "c_1", text: "retry", publicly: false, author: .operator, now: nowMillis()).get()) != nil)
        }
    }

    @Test("past 7 days a private reply is refused with the age in words; a public reply is not limited", arguments: StoreEngine.all)
    func sevenDays(engine: StoreEngine) async throws {
        try await withStore(engine) { store in
            let now = nowMillis()
            _ = try await store.ingest(try comment("c_old", "still there?", from: commenter, at: now - 8 * Self.day - 1000))
            let refused = try await store.queueCommentReply(commentId: "c_old", text: "yes", publicly: false, author: .bot, now: now)
            #expect(refused.failure == .tooOldForPrivateReply(commentId: "c_old", ageDays: 8))
            #expect(refused.failure?.description.contains("--public") == true)
            #expect(try await store.outbound(thread: commenter).isEmpty)
            let pub = try await store.queueCommentReply(commentId: "c_old", text: "yes!", publicly: true, author: .operator, now: now).get()
            #expect(pub.record.kind == .commentReply && pub.record.thread_id == nil)
            #expect(try await store.comment(id: "c_old")?.answer == .public)
            let unknown = try await store.queueCommentReply(commentId: "nope", text: "hi", publicly: true, author: .operator, now: now)
            #expect(unknown.failure == .unknownComment("nope"))
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
