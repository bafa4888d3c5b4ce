/// Looks at `condition` every `step` until it holds (true) or `timeout` passes or the task is cancelled (false);
/// looks at least once. For waits on state that other threads change, from async code: it sleeps between looks,
/// never blocking a cooperative-pool thread.
public func poll(within timeout: Duration, every step: Duration = .milliseconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if condition() { return true }
        if ContinuousClock.now >= deadline || Task.isCancelled { return false }
        try? await Task.sleep(for: step)
    }
}
