package dispatch

// AddSequenceStats adds o's counters to s, for the tests' model of the
// tracker.
func AddSequenceStats(s, o *SequenceStats) { s.add(o) }
