import Foundation

/// One line to append to a customer's rolling context in Redis (`chat:{customer}`).
public struct ContextTurn: Sendable, Equatable {
    public enum Role: String, Sendable { case user = "u", assistant = "a" }
    public var customer: String
    public var role: Role
    public var text: String
    public init(customer: String, role: Role, text: String) {
        self.customer = customer
        self.role = role
        self.text = text
    }
}
