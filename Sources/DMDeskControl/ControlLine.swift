import DMDeskCore
import Foundation
import Glibc

/// Encoding and decoding of single protocol lines, shared by the server, clients and tests.
public enum ControlLine {
    /// A server line as compact JSON (sorted keys) followed by "\n", written without Foundation's encoder
    /// (a `threads` reply for 10,000 threads is megabytes, once per client).
    public static func encode(_ line: ServerLine) -> Data {
        var data = Data(line.jsonValue.compactString.utf8)
        data.append(0x0A)
        return data
    }

    /// A request as one line, for clients.
    public static func encode(_ request: ControlRequest, using encoder: JSONEncoder = .compact) throws -> Data {
        var data = try encoder.encode(request)
        data.append(0x0A)
        return data
    }

    /// Why a request line was refused, with the `id` to answer to (JSON null when it could not be read).
    public struct Rejection: Error, Sendable, Equatable {
        public var id: JSONValue
        public var error: ControlError
        public init(id: JSONValue, error: ControlError) {
            self.id = id
            self.error = error
        }
    }

    /// Parses one request line (without its newline).
    public static func decodeRequest(_ line: some Collection<UInt8>) -> Result<ControlRequest, Rejection> {
        let data = Data(line)
        guard let json = try? JSONValue.parse(data) else {
            return .failure(Rejection(id: .null, error: .badRequest("line is not valid JSON")))
        }
        guard let members = json.objectValue else {
            return .failure(Rejection(id: .null, error: .badRequest("a request must be a JSON object")))
        }
        let id = members["id"] ?? .null
        guard id != .null else {
            return .failure(Rejection(id: .null, error: .badRequest("a request needs an \"id\"")))
        }
        guard let type = members["type"]?.stringValue else {
            return .failure(Rejection(id: id, error: .badRequest("a request needs a string \"type\"")))
        }
        guard ControlRequestType(rawValue: type) != nil else {
            return .failure(Rejection(id: id, error: ControlError(code: "unknown_request", message: "unknown request type \"\(type)\"")))
        }
        do {
            return .success(try JSONDecoder().decode(ControlRequest.self, from: data))
        } catch let error as DecodingError {
            return .failure(Rejection(id: id, error: .badRequest(describe(error))))
        } catch {
            return .failure(Rejection(id: id, error: .badRequest("malformed request")))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "request" : "field \"\(path.map(\.stringValue).joined(separator: "."))\""
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(field(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context):
            return "\(field(context.codingPath)) has an invalid value"
        case .keyNotFound(let key, _):
            return "missing field \"\(key.stringValue)\""
        @unknown default:
            return "malformed request"
        }
    }
}

/// Splits a byte stream into newline-terminated lines, refusing any line longer than
/// `maxLineBytes` without buffering it: the rest of an oversized line is skipped up to its newline.
public struct LineFramer: Sendable {
    public enum Frame: Sendable, Equatable {
        case line([UInt8])
        /// A line exceeded the limit; reported once, as soon as it is known, and the rest is discarded.
        case tooLong
    }

    public let maxLineBytes: Int
    private var partial: [UInt8] = []
    private var discarding = false

    public init(maxLineBytes: Int = ControlProtocol.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Feeds received bytes; returns the frames they complete. Empty lines are skipped and a
    /// trailing "\r" is dropped.
    public mutating func push(_ bytes: UnsafeRawBufferPointer) -> [Frame] {
        var frames: [Frame] = []
        guard let base = bytes.baseAddress else { return frames }
        var start = 0
        let end = bytes.count
        while start < end {
            if let found = memchr(base + start, 0x0A, end - start) {
                let newline = base.distance(to: UnsafeRawPointer(found))
                if discarding {
                    discarding = false
                } else if partial.count + (newline - start) > maxLineBytes {
                    frames.append(.tooLong)
                } else {
                    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<newline]))
                    if partial.last == 0x0D { partial.removeLast() }
                    if !partial.isEmpty { frames.append(.line(partial)) }
                }
                resetPartial()
                start = newline + 1
            } else {
                if !discarding {
                    if partial.count + (end - start) > maxLineBytes {
                        frames.append(.tooLong)
                        discarding = true
                        resetPartial()
                    } else {
                        partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                    }
                }
                start = end
            }
        }
        return frames
    }

    public mutating func push(_ bytes: [UInt8]) -> [Frame] {
        bytes.withUnsafeBytes { push($0) }
    }

    private mutating func resetPartial() {
        // Keep a modest buffer around; let a one-off huge line's memory go.
        if partial.capacity > 64 * 1024 { partial = [] } else { partial.removeAll(keepingCapacity: true) }
    }
}
