import DMDeskCore
import DMDeskTesting
import Foundation
import Testing

@Suite("access-token.json: the refreshed token on disk")
struct AccessTokenFileTests {
    @Test("saved 0600 and read back for the same configured token; a new configured token wins; junk is ignored")
    func roundTrip() throws {
        let dir = try makeTempDirectory()
        let stored = StoredAccessToken(
            accessToken: "IGAAfresh-token-value", expiresAt: 1_800_000_000_000, refreshedAt: 1_790_000_000_000,
            configuredFingerprint: AccessTokenFile.fingerprint("IGAAconfigured"))
        try AccessTokenFile.save(stored, dataDir: dir)
        let path = AccessTokenFile.path(dataDir: dir)
        let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o600)
        #expect(AccessTokenFile.load(dataDir: dir, configured: "IGAAconfigured") == stored)
        #expect(AccessTokenFile.load(dataDir: dir, configured: "IGAAsomething-new") == nil)
        #expect(AccessTokenFile.load(dataDir: dir, configured: nil) == nil)
        #expect(!(try String(contentsOfFile: path, encoding: .utf8)).contains("IGAAconfigured"), "only a fingerprint")

        var newer = stored
        newer.accessToken = "IGAAfresher"
        try AccessTokenFile.save(newer, dataDir: dir)
        #expect(AccessTokenFile.load(dataDir: dir, configured: "IGAAconfigured")?.accessToken == "IGAAfresher")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["access-token.json"], "no temporary left")

        try Data("{\"access_token\": 5".utf8).write(to: URL(fileURLWithPath: path))
        #expect(AccessTokenFile.load(dataDir: dir, configured: "IGAAconfigured") == nil)
    }

    @Test("a directory that cannot be written gives an error naming the file")
    func unwritable() throws {
        let error = try #require(throws: AccessTokenFileError.self) {
            try AccessTokenFile.save(
                StoredAccessToken(accessToken: "t", expiresAt: 1, refreshedAt: 1, configuredFingerprint: "f"),
                dataDir: "/nonexistent-dmdesk-dir")
        }
        #expect("\(error)".contains("/nonexistent-dmdesk-dir/access-token.json"))
    }
}
