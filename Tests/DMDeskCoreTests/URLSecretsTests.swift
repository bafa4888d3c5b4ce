import DMDeskCore
import Foundation
import Testing

@Suite("Passwords in URLs are masked wherever a URL is shown")
struct URLSecretsTests {
    @Test("one URL: the user is kept, the password masked, well-formed or not", arguments: [
        ("redis://:s3cret@cache:6379/0", "redis://:****@cache:6379/0"),
        ("redis://default:s3cret@cache:6379", "redis://default:****@cache:6379"),
        ("https://bot:tok3n@llm.example/v1", "https://bot:****@llm.example/v1"),
        // Malformed: characters a password should have escaped; the last "@" still ends the userinfo.
        ("redis://:pa/ss@cache:6379", "redis://:****@cache:6379"),
        ("redis://:p@ss#w?rd@cache:notaport", "redis://:****@cache:notaport"),
        ("redis://:pa ss@cache", "redis://:****@cache"),
        ("redis:/:s3cret@cache", "redis:/:****@cache"),
        ("user:s3cret@cache:6379", "user:****@cache:6379"),
        ("redis://:s3cret", "redis://:****"),
        // Nothing to hide.
        ("redis://127.0.0.1:6379/2", "redis://127.0.0.1:6379/2"),
        ("redis://onlyuser@cache", "redis://onlyuser@cache"),
        ("https://graph.instagram.com/v24.0", "https://graph.instagram.com/v24.0"),
        ("not a url", "not a url"),
        ("", ""),
    ])
    func oneURL(input: String, expected: String) {
        #expect(URLSecrets.masking(url: input) == expected)
    }

    @Test("free text: every URL with a password in a line is masked, the rest untouched")
    func freeText() {
        let line = #"connect to redis://:s3cret@cache:6379/0 failed; retrying "https://u:tok@api.example/v1?x=1" and https://plain.example/a@b"#
        let masked = URLSecrets.maskingPasswords(in: line)
        #expect(masked == #"connect to redis://:****@cache:6379/0 failed; retrying "https://u:****@api.example/v1?x=1" and https://plain.example/a@b"#)
        #expect(URLSecrets.maskingPasswords(in: "no urls here, mail me at a@b.c") == "no urls here, mail me at a@b.c")
        #expect(URLSecrets.maskingPasswords(in: "x://a:b@c y://d:e@f") == "x://a:****@c y://d:****@f")
        #expect(URLSecrets.maskingPasswords(in: "ends with ://") == "ends with ://")
        #expect(URLSecrets.maskingPasswords(in: "héllo 👋 https://ü:pw@höst/ä") == "héllo 👋 https://ü:****@höst/ä")
    }

    @Test("RedisEndpoint.description (what /health and the log show) never holds the password")
    func redisEndpointDescription() throws {
        #expect(try RedisEndpoint(url: "redis://:s3cret@cache:6380/2").description == "redis://:****@cache:6380/2")
        #expect(try RedisEndpoint(url: "redis://app:s3cret@cache").description == "redis://app:****@cache:6379/0")
        #expect(try RedisEndpoint(url: "redis://127.0.0.1:6379").description == "redis://127.0.0.1:6379/0")
    }

    @Test("the config listing and validation errors mask URL passwords")
    func configListingAndErrors() throws {
        let env = [
            "REDIS_URL": "redis://:s3cret-redis@cache:6379/0", "DMDESK_LLM_BASE_URL": "http://bot:s3cret-llm@127.0.0.1:11434/v1",
            "INSTAGRAM_API_BASE_URL": "https://proxy:s3cret-ig@graph.example/v24.0",
        ]
        let listing = try ResolvedConfig.load(environment: env, dotenvPath: nil).describe()
        #expect(!listing.contains("s3cret"), "\(listing)")
        #expect(listing.contains("redis://:****@cache:6379/0"))
        #expect(listing.contains("http://bot:****@127.0.0.1:11434/v1"))
        #expect(listing.contains("https://proxy:****@graph.example/v24.0"))

        for (name, bad) in [("REDIS_URL", "redis://:s3cret/pw@cache:port"), ("DMDESK_LLM_BASE_URL", "ftp://bot:s3cret@host/v1"),
                            ("WHATSAPP_API_BASE_URL", "gopher://u:s3cret@host")] {
            let resolved = try ResolvedConfig.load(environment: [name: bad], dotenvPath: nil)
            #expect(throws: ConfigError.self) { try resolved.validate() }
            do { try resolved.validate() } catch {
                #expect(error.message.contains(name))
                #expect(!error.message.contains("s3cret"), "\(error.message)")
                #expect(error.message.contains(":****@"), "\(error.message)")
            }
        }
    }
}
