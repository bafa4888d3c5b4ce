import Foundation

/// A span of time written as settings write it: a whole number and a unit, `45s`, `90m`, `12h`, `30d`
/// (`DMDESK_JOURNAL_RETENTION`, `DMDESK_MESSAGE_RETENTION`, `DMDESK_PRUNE_INTERVAL`).
public struct RetentionPeriod: Sendable, Equatable, CustomStringConvertible {
    public var seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    static let units: [(suffix: Character, seconds: Int64)] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]

    /// Parses `30d`; the error names what is wrong with the text.
    public static func parse(_ text: String) -> Result<RetentionPeriod, ConfigError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let unitChar = trimmed.last, !trimmed.isEmpty else {
            return .failure(ConfigError("must be a duration like 30d, 12h, 90m or 45s, got nothing"))
        }
        guard let unit = units.first(where: { $0.suffix == unitChar }) else {
            let hint = unitChar.isNumber ? "has no unit" : "has unit '\(unitChar)', not one of s, m, h, d"
            return .failure(ConfigError("'\(text)' \(hint) (write it like 30d, 12h, 90m or 45s)"))
        }
        let digits = trimmed.dropLast()
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigitCharacter), let n = Int64(digits) else {
            return .failure(ConfigError("'\(text)' needs a whole number before '\(unitChar)' (write it like 30d, 12h, 90m or 45s)"))
        }
        guard n > 0 else { return .failure(ConfigError("'\(text)' must be longer than zero")) }
        let (total, overflow) = n.multipliedReportingOverflow(by: unit.seconds)
        guard !overflow, total <= Int64(Int32.max) * 86400 else { return .failure(ConfigError("'\(text)' is too long")) }
        return .success(RetentionPeriod(seconds: total))
    }

    public var milliseconds: EpochMillis { seconds * 1000 }
    public var duration: Duration { .seconds(seconds) }

    /// The largest unit that divides it: `30d`, `90m`.
    public var description: String {
        let unit = Self.units.last { seconds % $0.seconds == 0 } ?? Self.units[0]
        return "\(seconds / unit.seconds)\(unit.suffix)"
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
