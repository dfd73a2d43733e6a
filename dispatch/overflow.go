package dispatch

import (
	"fmt"
	"strings"
)

// Overflow says what a handler's queue does with a datagram that arrives
// when it is full. The zero value is [DropNewest].
type Overflow int

const (
	// DropNewest drops the arriving datagram (tail drop), counted as
	// Drops.QueueFull. The handler sees the oldest datagrams of a burst.
	DropNewest Overflow = iota
	// DropOldest evicts the oldest queued datagram to make room, counted
	// as Drops.Evicted. The handler sees the newest datagrams of a burst.
	DropOldest
	// Block makes the reader wait for room: the socket is not read while
	// the queue is full, so the kernel drops what overflows the socket's
	// receive buffer and counts it (mcast.Stats.KernelDrops). Every
	// handler on the same sockets is slowed with it.
	Block
)

var overflowNames = [...]string{"drop-newest", "drop-oldest", "block"}

// String returns "drop-newest", "drop-oldest" or "block".
func (o Overflow) String() string {
	if o >= 0 && int(o) < len(overflowNames) {
		return overflowNames[o]
	}
	return fmt.Sprintf("Overflow(%d)", int(o))
}

// ParseOverflow parses the names that String returns ("newest", "oldest"
// and "" for the default are accepted too).
func ParseOverflow(s string) (Overflow, error) {
	switch strings.ToLower(s) {
	case "drop-newest", "newest", "":
		return DropNewest, nil
	case "drop-oldest", "oldest":
		return DropOldest, nil
	case "block":
		return Block, nil
	}
	return 0, fmt.Errorf("dispatch: overflow policy %q (want drop-newest, drop-oldest or block): %w", s, ErrInvalidConfig)
}

// MarshalText implements encoding.TextMarshaler.
func (o Overflow) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *Overflow) UnmarshalText(b []byte) error {
	v, err := ParseOverflow(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// cause is why a handler did not get a datagram; it indexes route.drops.
type cause int

const (
	causeQueueFull cause = iota
	causeEvicted
	causePanic
	causeShutdown
	numCauses
)
