import DMDeskCore

/// What `S` found: the query, the hits (newest first, as the daemon sends them) and the highlighted one.
struct SearchResults: Equatable, Sendable {
    var query = ""
    var hits: [SearchHit] = []
    var selected = 0

    var selectedHit: SearchHit? { hits.indices.contains(selected) ? hits[selected] : nil }

    mutating func move(by delta: Int) {
        guard !hits.isEmpty else { return }
        selected = max(0, min(hits.count - 1, selected + delta))
    }
}
