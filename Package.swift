// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "dmdesk",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dmdesk", targets: ["dmdesk"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CNcursesw", path: "Sources/CNcursesw", pkgConfig: "ncursesw",
                       providers: [.apt(["libncursesw5-dev"])]),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", pkgConfig: "hiredis",
                       providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .target(
            name: "DMDeskCore",
            dependencies: [
                "COpenSSL",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "DMDeskStore",
            dependencies: [
                "DMDeskCore", "CHiredis",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        .target(
            name: "DMDeskGraph",
            dependencies: [
                "DMDeskCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "DMDeskAgent",
            dependencies: [
                "DMDeskCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .target(
            name: "DMDeskControl",
            dependencies: ["DMDeskCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(
            name: "DMDeskDaemon",
            dependencies: [
                "DMDeskCore", "DMDeskStore", "DMDeskGraph", "DMDeskControl", "DMDeskAgent",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "DMDeskConsole",
            dependencies: ["DMDeskCore", "CNcursesw", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: strict),
        // What `dmdesk demo` runs besides the daemon: simulated customers, stand-ins for the Graph API and a
        // chat-completions endpoint, and the redis-server launcher. Tests use the same stand-ins.
        .target(
            name: "DMDeskDemo",
            dependencies: [
                "DMDeskCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Test-only helpers (the shared webhook fixtures); never linked into an executable.
        .target(name: "DMDeskTesting", dependencies: ["DMDeskCore", "DMDeskDemo"], swiftSettings: strict),
        .executableTarget(
            name: "dmdesk",
            dependencies: [
                "DMDeskCore", "DMDeskStore", "DMDeskGraph", "DMDeskDaemon", "DMDeskConsole", "DMDeskDemo", "DMDeskControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The benchmarks' own tools (load generators, a no-op server, data population), used by scripts/bench-*.
        .executableTarget(
            name: "dmdesk-bench",
            dependencies: [
                "DMDeskCore", "DMDeskStore", "DMDeskGraph", "DMDeskDaemon", "DMDeskConsole", "DMDeskDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict),
        .testTarget(name: "DMDeskCoreTests", dependencies: ["DMDeskCore", "DMDeskTesting"], swiftSettings: strict),
        // The store through its protocol, against real databases; one suite for every engine.
        .testTarget(
            name: "DMDeskStoreTests", dependencies: ["DMDeskStore", "DMDeskCore", "DMDeskTesting"], swiftSettings: strict),
        .testTarget(
            name: "DMDeskDaemonTests",
            dependencies: [
                "DMDeskCore", "DMDeskStore", "DMDeskGraph", "DMDeskDaemon", "DMDeskTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "DMDeskGraphTests",
            dependencies: ["DMDeskGraph", "DMDeskCore", "DMDeskTesting",
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: strict),
        .testTarget(
            name: "DMDeskAgentTests", dependencies: ["DMDeskAgent", "DMDeskCore", "DMDeskTesting"], swiftSettings: strict),
        .testTarget(name: "DMDeskControlTests", dependencies: ["DMDeskControl", "DMDeskCore"], swiftSettings: strict),
        .testTarget(name: "DMDeskConsoleTests", dependencies: ["DMDeskConsole", "DMDeskCore", "DMDeskTesting"], swiftSettings: strict),
    ]
)

// libFuzzer targets (Fuzz/; run them with scripts/fuzz). Declared only when DMDESK_FUZZ=1, so a normal
// `swift build` neither compiles nor links them and they can never end up in `dmdesk`. scripts/fuzz builds them in
// .build-fuzz with `--sanitize=fuzzer --sanitize=address`; libFuzzer supplies `main` and calls each target's
// `LLVMFuzzerTestOneInput`.
if Context.environment["DMDESK_FUZZ"] == "1" {
    let fuzzSettings = strict + [.unsafeFlags(["-parse-as-library"])]
    package.targets += [
        .executableTarget(
            name: "FuzzWebhook", dependencies: ["DMDeskCore", "DMDeskConsole"], path: "Fuzz/FuzzWebhook",
            swiftSettings: fuzzSettings),
        .executableTarget(
            name: "FuzzControlLine", dependencies: ["DMDeskControl", "DMDeskCore"], path: "Fuzz/FuzzControlLine",
            swiftSettings: fuzzSettings),
        .executableTarget(
            name: "FuzzSanitizer", dependencies: ["DMDeskConsole"], path: "Fuzz/FuzzSanitizer",
            swiftSettings: fuzzSettings),
    ]
}
