import DMDeskCore
import Logging

/// The last guard for passwords in URLs: whoever logs (our code, or a library's error text), any
/// `scheme://user:password@` in the message or a metadata value is masked before the wrapped handler writes it.
struct URLMaskingLogHandler<Wrapped: LogHandler>: LogHandler {
    var wrapped: Wrapped

    init(_ wrapped: Wrapped) { self.wrapped = wrapped }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue.mapValues(Self.masked) }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue.map(Self.masked) }
    }

    func log(event: LogEvent) {
        var event = event
        let text = event.message.description
        let maskedText = URLSecrets.maskingPasswords(in: text)
        if maskedText != text { event.message = "\(maskedText)" }
        event.metadata = event.metadata?.mapValues(Self.masked)
        wrapped.log(event: event)
    }

    static func masked(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let s):
            return .string(URLSecrets.maskingPasswords(in: s))
        case .stringConvertible(let c):
            let s = c.description
            let m = URLSecrets.maskingPasswords(in: s)
            return m == s ? value : .string(m)
        case .array(let items):
            return .array(items.map(masked))
        case .dictionary(let members):
            return .dictionary(members.mapValues(masked))
        }
    }
}
