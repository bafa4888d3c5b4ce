import Foundation

public enum DaemonError: Error, CustomStringConvertible {
    case shuttingDown
    case portInUse(host: String, port: Int)
    case listenFailed(String)
    case unsignedNotAllowed
    case configuration(String)

    public var description: String {
        switch self {
        case .shuttingDown: return "the daemon is shutting down"
        case .portInUse(let host, let port):
            return "port \(port) on \(host) is already in use; stop the other process or choose another with --port / PORT"
        case .listenFailed(let why): return "the webhook listener could not start: \(why)"
        case .unsignedNotAllowed:
            return "INSTAGRAM_APP_SECRET is not set, so webhook signatures cannot be checked; set it, or pass --allow-unsigned for local testing"
        case .configuration(let why): return why
        }
    }
}
