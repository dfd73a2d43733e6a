// Package feedsend sends a generated MoldUDP64 A/B feed (package feedgen)
// over UDP multicast: line A to one group, line B to another, each packet
// at the time the generator says it arrives, with the loss, duplication,
// reordering and delay chosen for each line.
//
// # Timing
//
// Packets go out in the generator's order of arrival, on an absolute
// timetable: packet p at start + p.At. When the sender falls behind (a
// slow receiver, a pause) it sends what is due at once, without sleeping,
// so the order, and with it every duplicate and reordering, is kept even
// when the timing is not. [Config.Pace] lets a caller hold the sender back
// until receivers have drained their queues, as tests do so that no
// datagram is dropped by the kernel.
//
// # Safety
//
// By default the datagrams go out of the loopback interface with TTL 1
// (mcast.NewSender's default): nothing leaves the host unless an
// interface is named.
package feedsend

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/mcast"
)

// Config configures [Send].
type Config struct {
	// A and B are the groups (and ports) of the two lines. They must
	// differ.
	A, B netip.AddrPort

	// SenderA and SenderB configure the lines' sockets (interface, TTL,
	// loopback); nil means the zero mcast.SenderConfig: the loopback
	// interface, TTL 1.
	SenderA, SenderB *mcast.SenderConfig

	// Feed describes the feed and what each line does to it.
	Feed feedgen.Config

	// Pace, if set, is called before every PaceEvery-th packet; Send waits
	// for it, and stops with its error if it returns one.
	Pace func() error

	// PaceEvery is how many packets go between calls of Pace; 0 means 32.
	PaceEvery int
}

// Result says what Send sent.
type Result struct {
	// Packets and Bytes count the datagrams sent on each line (indexed by
	// feedgen.LineA and LineB), duplicates included.
	Packets, Bytes [2]uint64

	// Elapsed is the time from the first packet to the last.
	Elapsed time.Duration

	// Late is how far behind its timetable the last packet went out.
	Late time.Duration
}

// Send sends the feed that cfg describes and returns the generator, which
// knows what each line carried and what both lost (feedgen.Generator's
// Carried and Missing), and what was sent. It stops early, with ctx's
// error, when ctx ends.
func Send(ctx context.Context, cfg *Config) (*feedgen.Generator, Result, error) {
	var res Result
	if cfg.A == cfg.B {
		return nil, res, fmt.Errorf("feedsend: lines A and B both go to %s", cfg.A)
	}
	g, err := feedgen.New(&cfg.Feed)
	if err != nil {
		return nil, res, fmt.Errorf("feedsend: %w", err)
	}
	var ss [2]*mcast.Sender
	for i, c := range []struct {
		dst netip.AddrPort
		cfg *mcast.SenderConfig
	}{{cfg.A, cfg.SenderA}, {cfg.B, cfg.SenderB}} {
		s, err := mcast.NewSender(c.dst, c.cfg)
		if err != nil {
			for _, s := range ss[:i] {
				s.Close()
			}
			return nil, res, fmt.Errorf("feedsend: line %c: %w", 'A'+i, err)
		}
		defer s.Close()
		ss[i] = s
	}
	every := cfg.PaceEvery
	if every <= 0 {
		every = 32
	}
	start := time.Now()
	var n int
	for {
		p, ok := g.Next()
		if !ok {
			break
		}
		if n%256 == 0 && ctx.Err() != nil {
			return g, res, ctx.Err()
		}
		if cfg.Pace != nil && n%every == 0 {
			if err := cfg.Pace(); err != nil {
				return g, res, fmt.Errorf("feedsend: pace: %w", err)
			}
		}
		if wait := time.Until(start.Add(p.At)); wait >= time.Millisecond {
			// Sleep only for a millisecond or more (the timer's grain);
			// shorter waits become bursts.
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return g, res, ctx.Err()
			case <-t.C:
			}
		}
		if err := sendRetry(ss[p.Line], p.Data); err != nil {
			return g, res, fmt.Errorf("feedsend: line %c: %w", 'A'+p.Line, err)
		}
		res.Packets[p.Line]++
		res.Bytes[p.Line] += uint64(len(p.Data))
		n++
		res.Late = max(0, time.Since(start)-p.At)
	}
	res.Elapsed = time.Since(start)
	return g, res, nil
}

// sendRetry sends b, retrying for a while when the socket's buffer is full
// (ENOBUFS, which a fast sender meets on some kernels).
func sendRetry(s *mcast.Sender, b []byte) error {
	var err error
	for try := 0; try < 100; try++ {
		if err = s.Send(b); err == nil || !errors.Is(err, errNoBufs) {
			return err
		}
		time.Sleep(100 * time.Microsecond) // the kernel frees send buffer space as the queue drains
	}
	return err
}
