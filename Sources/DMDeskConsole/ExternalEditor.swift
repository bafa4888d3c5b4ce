import Foundation

/// `$VISUAL`, else `$EDITOR`, else `vi`, run on a private temporary file holding the draft, as aerc and git do. Runs
/// on the console's input thread (it owns the terminal, which the editor borrows; nothing else runs there meanwhile).
struct ExternalEditor {
    enum Outcome: Equatable, Sendable {
        case edited(String)
        /// The file came back empty (or only white space): the edit is cancelled.
        case emptied
        case failed(String)
    }

    let command: String

    init(environment: [String: String]) {
        let chosen = [environment["VISUAL"], environment["EDITOR"]].compactMap { $0 }
            .first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        command = chosen ?? "vi"
    }

    func edit(_ draft: String) -> Outcome {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((directory + "/dmdesk-reply-XXXXXX.txt").utf8CString)
        let fd = mkstemps(&template, 4)  // 0600: the draft is a customer conversation
        guard fd >= 0 else {
            let code = errno
            return .failed("cannot create a temporary file in \(directory): \(String(cString: strerror(code)))")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        let bytes = Array(draft.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { return .failed("cannot write \(path)") }

        // Through the shell, so "code -w" or "emacsclient -t" work as they do for git.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " \"$1\"", "dmdesk-editor", path]
        do { try process.run() } catch { return .failed("cannot run \(command): \(error.localizedDescription)") }
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            return .failed("\(command) exited with status \(process.terminationStatus); the draft is unchanged")
        }
        guard let data = FileManager.default.contents(atPath: path) else { return .failed("cannot read \(path)") }
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }  // editors end files with a newline
        return text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? .emptied : .edited(text)
    }
}
