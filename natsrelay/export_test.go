package natsrelay

// Sequence exposes the Source's numbering check to tests, on a Source
// that has no consumer.
func NewTestSource(window, relays int) *Source {
	return &Source{window: uint64(window), relays: relays, flows: make(map[string]*relayFlow)}
}

func (s *Source) Sequence(relay string, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sequence(relay, seq)
}
