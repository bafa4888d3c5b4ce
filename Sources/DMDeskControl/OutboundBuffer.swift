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

    /// The first `limit` pending bytes (all of them by default).
    func withPending<R>(limit: Int = .max, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let end = sentCount + min(limit, pendingCount)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[sentCount..<end])) }
    }

    /// How many pending bytes to hand the kernel when only `budget` may go now. All of them if they fit;
    /// else up to the budget, cut back to the end of a whole line when the line it would cut has more than
    /// `tailAllowance` bytes left over (a cut line must be finished before any final line, so its rest has
    /// to fit in the reserve). A single line longer than the budget still goes, in pieces. Never 0 for a
    /// positive budget, so the writer always makes progress when there is room.
    func sendableCount(within budget: Int, tailAllowance: Int) -> Int {
        guard budget > 0 else { return 0 }
        guard pendingCount > budget else { return pendingCount }
        let cut = sentCount + budget
        if bytes[cut - 1] == 0x0A { return budget }
        let lineEnd = bytes[cut...].firstIndex(of: 0x0A).map { $0 + 1 } ?? bytes.count
        if lineEnd - cut <= tailAllowance { return budget }
        if let newline = bytes[sentCount..<cut].lastIndex(of: 0x0A) { return newline + 1 - sentCount }
        return budget
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

/// Keeps part of a client socket's send buffer free, so the last line the daemon sends a client it drops
/// (`overflow` with the seq to resume from, or `journal_unavailable`) always fits at once, even when the
/// client has stopped reading. Without it, event lines fill the buffer to the brim and that line waits in
/// vain for the grace period: the client sees a bare EOF.
///
/// Linux accounts a Unix stream socket's queue (`TIOCOUTQ`, the bytes the peer has not read yet) in the
/// same units as its limit (`SO_SNDBUF`): payload plus each kernel buffer's overhead (measured: 0.7–1.5 KB
/// per send of up to 32 KB, ~3 KB for 150 KB). A send is accepted whole while the queue is below the limit,
/// however far it then overshoots; so ordinary lines stop at `limit - reserve`, and the final line (under
/// 200 bytes) plus the rest of a line cut mid-way (at most `tailAllowance`) find room below the limit.
struct SendBudget {
    /// Room kept free: the final line, the rest of a cut line, and the kernel overhead of both and of the
    /// last ordinary send, with a wide margin.
    static let reserve = 32 * 1024
    static let tailAllowance = 8 * 1024

    /// The socket's limit, or nil where the queue cannot be measured (then nothing is held back).
    private let limit: Int?
    private let reserve: Int

    init(socket fd: Int32) {
        let limit = UnixSocket.sendBufferLimit(fd).flatMap { UnixSocket.queuedBytes(fd) != nil ? $0 : nil }
        self.limit = limit
        // poll() reports POLLOUT once the queue drains to a quarter of the limit; the reserve must leave room
        // to send then, or the writer would spin.
        reserve = min(Self.reserve, (limit ?? 0) / 2)
    }

    /// Bytes that may be sent now without eating into the reserve; nil when nothing is held back.
    func available(_ fd: Int32) -> Int? {
        guard let limit, let queued = UnixSocket.queuedBytes(fd) else { return nil }
        return limit - reserve - queued
    }
}
