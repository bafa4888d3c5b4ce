import Foundation

/// Spawns a program with stdin and stderr on /dev/null, waits for it, and returns its stdout when asked.
/// posix_spawn + waitpid: Foundation's Process sometimes never reports a short-lived child as finished here.
public func spawnAndWait(_ argv: [String], captureOutput: Bool) throws -> String {
    var fds: [Int32] = [-1, -1]
    if captureOutput { guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if captureOutput {
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
    if captureOutput { close(fds[1]) }
    guard rc == 0 else {
        if captureOutput { close(fds[0]) }
        throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .ENOENT)
    }
    var output = [UInt8]()
    if captureOutput {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        close(fds[0])
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return String(decoding: output, as: UTF8.self)
}
