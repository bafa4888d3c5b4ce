import DMDeskCore
import DMDeskGraph
import DMDeskTesting
import Foundation
import Testing

@Suite("Retries against the stand-in")
struct RetryTests {
    @Test func serverErrorThenSuccessIsRetried() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(1, status: 500, code: 2, message: "Service temporarily unavailable")
            let log = AttemptLog()
            let result = try await withGraphRetries(.immediate, onFailedAttempt: log.record) { () throws(GraphError) in
                try await client.sendText(recipient: "1", text: "hi")
            }
            #expect(result.messageId == "m_fake_1")
            #expect(fake.requests().count == 2)
            #expect(fake.sentTexts() == ["hi"])
            #expect(log.attempts == [1])
        }
    }

    @Test func plain500WithoutMetaBodyIsRetried() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(2, status: 503, rawBody: "")
            _ = try await withGraphRetries(.immediate) { () throws(GraphError) in
                try await client.sendText(recipient: "1", text: "hi")
            }
            #expect(fake.requests().count == 3)
            #expect(fake.sentTexts() == ["hi"])
        }
    }

    @Test(arguments: [(400, 4), (400, 17), (400, 341), (400, 613), (500, 1)])
    func rateLimitAndTransientCodesAreRetried(status: Int, code: Int) async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(1, status: status, code: code)
            _ = try await withGraphRetries(.immediate) { () throws(GraphError) in
                try await client.sendText(recipient: "1", text: "hi")
            }
            #expect(fake.requests().count == 2)
            #expect(fake.sentTexts() == ["hi"])
        }
    }

    @Test func tokenErrorIsNotRetried() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(1, status: 400, code: 190, message: "Error validating access token")
            let log = AttemptLog()
            let error = try await sendFailingUnderRetries(client, log: log)
            #expect(error.isTokenInvalid)
            #expect(!error.isOutsideWindow)
            #expect(fake.requests().count == 1)
            #expect(log.attempts == [1])
        }
    }

    @Test func outsideWindowIsNotRetried() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(
                1, status: 400, code: 10, subcode: 2534022,
                message: "This message is sent outside of allowed window.")
            let error = try await sendFailingUnderRetries(client)
            #expect(error.isOutsideWindow)
            #expect(!error.isRetryable)
            #expect(error.description.hasPrefix("outside the 24-hour messaging window (Meta code 10/2534022)"))
            #expect(fake.requests().count == 1)
            #expect(fake.sentTexts().isEmpty)
        }
    }

    @Test func perRecipientRateLimitIsNotRetried() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(1, status: 400, code: 613, subcode: 2018338)
            let error = try await sendFailingUnderRetries(client)
            #expect(error.code == 613)
            #expect(!error.isRetryable)
            #expect(fake.requests().count == 1)
        }
    }

    @Test func givesUpAfterMaxAttemptsWithTheLastError() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(5, status: 500, code: 1, message: "boom")
            let log = AttemptLog()
            let error = try await sendFailingUnderRetries(client, log: log)
            #expect(error.code == 1)
            #expect(fake.requests().count == 3)
            #expect(log.attempts == [1, 2, 3])
        }
    }

    @Test func retryAfterHeaderReachesTheError() async throws {
        try await withFakeGraph { fake, client in
            fake.failNext(1, status: 429, code: 4, message: "Application request limit reached", retryAfter: 7)
            let error = try await #require(throws: GraphError.self) {
                try await client.sendText(recipient: "1", text: "hi")
            }
            #expect(error.retryAfter == 7)
            #expect(error.isRetryable)
            #expect(RetryPolicy().delay(afterAttempt: 1, retryAfter: error.retryAfter) == .seconds(7))
        }
    }
}

@Suite("RetryPolicy")
struct RetryPolicyTests {
    @Test func backoffDoublesWithinJitter() {
        let policy = RetryPolicy()  // 1 s, 2 s, 4 s … ± 20 %
        for (attempt, expected) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)] {
            for _ in 0..<50 {
                let delay = policy.delay(afterAttempt: attempt, retryAfter: nil)
                #expect(delay >= .seconds(expected * 0.8) && delay <= .seconds(min(expected * 1.2, 10)))
            }
        }
    }

    @Test func withoutJitterTheDelaysAreExact() {
        let policy = RetryPolicy(jitter: 0)
        #expect(policy.delay(afterAttempt: 1, retryAfter: nil) == .seconds(1))
        #expect(policy.delay(afterAttempt: 2, retryAfter: nil) == .seconds(2))
        #expect(policy.delay(afterAttempt: 3, retryAfter: nil) == .seconds(4))
        #expect(policy.delay(afterAttempt: 5, retryAfter: nil) == .seconds(10))  // 16 s capped
        #expect(policy.delay(afterAttempt: 60, retryAfter: nil) == .seconds(10))
    }

    @Test func retryAfterIsHonouredAndCapped() {
        let policy = RetryPolicy()
        #expect(policy.delay(afterAttempt: 1, retryAfter: 7) == .seconds(7))
        #expect(policy.delay(afterAttempt: 1, retryAfter: 30) == .seconds(10))
        // A Retry-After shorter than the backoff does not shorten it.
        let delay = policy.delay(afterAttempt: 3, retryAfter: 0.5)
        #expect(delay >= .seconds(3.2))
    }

    @Test func immediatePolicyIsFastButKeepsAttempts() {
        #expect(RetryPolicy.immediate.maxAttempts == 3)
        #expect(RetryPolicy.immediate.delay(afterAttempt: 3, retryAfter: 60) <= .milliseconds(5))
    }
}
