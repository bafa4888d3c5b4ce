import Foundation

/// Bytes the writer has encoded but the kernel has not yet taken, remembering where each event line
/// ends so an overflowing client can be told exactly which seq to resume from.
struct OutboundBuffer {
    private var bytes: [UInt8] = []
    private var sentCount = 0
    private var eventLineEnds: [(end: Int, seq: Int64)] = []
    /// The newest event seq whose whole line has been handed to the kernel.
    var lastSeqDelivered: Int64 = 0

    var hasPending: Bool { sentCount < bytes.count }
    var pendingCount: Int { bytes.count - sentCount }

    mutating func append(_ line: Data) {
        bytes.append(contentsOf: line)
    }

    mutating func appendEvent(_ line: Data, seq: Int64) {
        bytes.append(contentsOf: line)
        eventLineEnds.append((bytes.count, seq))
    }

    func withPending<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[sentCount...])) }
    }

    mutating func advance(by count: Int) {
        sentCount += count
        guard sentCount >= bytes.count else { return }
        if let last = eventLineEnds.last { lastSeqDelivered = last.seq }
        bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
        eventLineEnds.removeAll(keepingCapacity: true)
        sentCount = 0
    }

    /// Drops every line not yet started, finishing only a line already partly sent (a half line
    /// would corrupt the stream). Returns the newest event seq the client will have once the rest
    /// is sent.
    mutating func dropUnstartedLines() -> Int64 {
        var cut = sentCount
        if sentCount > 0 && bytes[sentCount - 1] != 0x0A, let newline = bytes[sentCount...].firstIndex(of: 0x0A) {
            cut = newline + 1
        }
        bytes.removeSubrange(cut...)
        eventLineEnds.removeAll { $0.end > cut }
        let resume = eventLineEnds.last?.seq ?? lastSeqDelivered
        if sentCount >= bytes.count {
            bytes.removeAll()
            eventLineEnds.removeAll()
            sentCount = 0
        }
        lastSeqDelivered = resume
        return resume
    }
}
