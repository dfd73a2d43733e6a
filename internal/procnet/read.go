package procnet

import (
	"io"
	"os"
)

// ReadUDP reads udp (IPv4) or udp6 (IPv6) of the calling thread's network
// namespace.
func ReadUDP(f Family) ([]UDPSocket, error) {
	return read(f.file("udp"), func(r io.Reader) ([]UDPSocket, error) { return ParseUDP(r, f) })
}

// ReadIGMP reads igmp (IPv4) or igmp6 (IPv6) of the calling thread's
// network namespace.
func ReadIGMP(f Family) ([]Membership, error) {
	return read(f.file("igmp"), func(r io.Reader) ([]Membership, error) { return ParseIGMP(r, f) })
}

// ReadMcfilter reads mcfilter (IPv4) or mcfilter6 (IPv6) of the calling
// thread's network namespace.
func ReadMcfilter(f Family) ([]SourceFilter, error) {
	return read(f.file("mcfilter"), func(r io.Reader) ([]SourceFilter, error) { return ParseMcfilter(r, f) })
}

// read opens file in /proc/thread-self/net, or /proc/net where the first
// cannot be opened, and parses it.
func read[T any](file string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open("/proc/thread-self/net/" + file)
	if err != nil {
		if f, err = os.Open("/proc/net/" + file); err != nil {
			return nil, err
		}
	}
	defer f.Close()
	return parse(f)
}
