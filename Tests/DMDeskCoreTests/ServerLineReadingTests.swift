import DMDeskCore
import Foundation
import Testing

@Suite("Reading socket lines without JSONDecoder: the same values, the same refusals")
struct ServerLineReadingTests {
    static let lines = [
        #"{"daemon":"0.1.0","humanAgentTag":false,"listener":"127.0.0.1:8080","protocol":1,"type":"hello","account":"1784"}"#,
        #"{"id":7,"result":{"hits":[{"mid":"m1","thread":"t","direction":"in","author":"customer","timestamp":5,"snippet":"a ✨","highlights":[{"start":0,"length":1}]}]},"type":"ok"}"#,
        #"{"error":{"code":"bad_request","message":"search needs `text`"},"id":"x","type":"error"}"#,
        #"{"at":1732190000123,"data":{"id":"m1","text":"héllo \"q\""},"event":"message.received","seq":42,"thread":"t1","type":"event"}"#,
        #"{"type":"ok","id":null,"result":null}"#,
        #"{"type":"ok","id":3,"extra":"ignored"}"#,
    ]
    static let refused = [
        #"{"id":1}"#, #"[1,2]"#, #"{"type":5}"#, #"{"type":"event","seq":"7"}"#, #"{"type":"event","seq":1.5}"#,
        #"{"type":"hello","protocol":"1"}"#, #"{"type":"hello","humanAgentTag":"yes"}"#, #"{"type":"error","error":{"code":"x"}}"#,
        #"{"type":"ok","thread":7}"#, "not json",
    ]

    @Test("accepted lines decode to what JSONDecoder gives")
    func same() throws {
        for text in Self.lines {
            let raw = Data(text.utf8)
            let expected = try JSONDecoder().decode(ServerLine.self, from: raw)
            #expect(ServerLine.read(raw) == expected, "\(text)")
        }
    }

    @Test("what JSONDecoder refuses is refused")
    func refusals() {
        for text in Self.refused {
            let raw = Data(text.utf8)
            #expect((try? JSONDecoder().decode(ServerLine.self, from: raw)) == nil, "JSONDecoder accepts \(text)")
            #expect(ServerLine.read(raw) == nil, "\(text)")
        }
    }

    @Test("search hits read from a reply equal their Decodable form; a malformed one is refused")
    func hits() throws {
        let hit = SearchHit(
            mid: "m1", thread: "t1", direction: .outbound, author: "operator", timestamp: 1_732_190_000_123, name: nil,
            username: "ana", snippet: "…blue ✨ hoodie", highlights: [.init(start: 1, length: 4)])
        let json = JSONValue(hit)
        #expect(SearchHit(json: json) == hit)
        #expect(try json.decode(SearchHit.self) == hit)
        guard case .object(var broken) = json else { return }
        broken["timestamp"] = .string("soon")
        #expect(SearchHit(json: .object(broken)) == nil)
        #expect((try? JSONValue.object(broken).decode(SearchHit.self)) == nil)
    }
}
