import DMDeskCore
import Foundation
import Glibc

/// A self-pipe: lets any thread wake one that sits in poll(2). Writes are non-blocking and a full
/// pipe already means "wake up", so waking never blocks.
final class WakePipe: @unchecked Sendable {
    let readFD: Int32
    private let writeFD: Int32
    private let lock = NSLock()
    private var isOpen = true

    init?() {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    func wake() {
        lock.lock()
        defer { lock.unlock() }
        // The lock keeps a late waker (e.g. the publisher) from writing to a closed, reused fd.
        guard isOpen else { return }
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard isOpen else { return }
        isOpen = false
        Glibc.close(readFD)
        Glibc.close(writeFD)
    }
}
