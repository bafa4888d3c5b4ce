@_exported import DMDeskDemo
import DMDeskCore
import Foundation

/// The shared webhook fixtures (`shared/fixtures/webhooks`) with the signatures recorded beside them.
public struct WebhookFixture: Sendable {
    public var name: String
    public var body: Data
    public var signature: String

    public static let appSecret = WebhookBuilder.testAppSecret

    /// Finds the fixtures folder: `$DMDESK_FIXTURES`, or `../shared/fixtures/webhooks` from the package root.
    public static func directory(file: String = #filePath) -> String? {
        if let env = ProcessInfo.processInfo.environment["DMDESK_FIXTURES"] { return env }
        var url = URL(fileURLWithPath: file)
        for _ in 0..<6 {
            url.deleteLastPathComponent()
            for candidate in ["../shared/fixtures/webhooks", "shared/fixtures/webhooks", "Tests/Fixtures/webhooks"] {
                let path = url.appendingPathComponent(candidate).standardizedFileURL.path
                if FileManager.default.fileExists(atPath: path + "/SIGNATURES") { return path }
            }
        }
        return nil
    }

    public static func all() throws -> [WebhookFixture] {
        guard let dir = directory() else { throw CocoaError(.fileNoSuchFile) }
        let signatures = try String(contentsOfFile: dir + "/SIGNATURES", encoding: .utf8)
        return try signatures.split(separator: "\n").compactMap { line -> WebhookFixture? in
            guard !line.hasPrefix("#") else { return nil }
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { return nil }
            let name = String(parts[0])
            let body = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            return WebhookFixture(name: name, body: body, signature: String(parts[1]))
        }
    }

    public static func named(_ name: String) throws -> WebhookFixture {
        guard let f = try all().first(where: { $0.name == name || $0.name == name + ".json" }) else {
            throw CocoaError(.fileNoSuchFile)
        }
        return f
    }
}
