package dispatch_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/dispatch/dispatchtest"
	"github.com/sharecast/sharecast/mcast"
)

var (
	group1 = netip.MustParseAddr("239.1.2.3")
	group2 = netip.MustParseAddr("239.1.2.4")
	src1   = netip.MustParseAddrPort("10.0.0.1:4000")
	src2   = netip.MustParseAddrPort("10.0.0.2:4000")
	local  = netip.MustParseAddrPort("0.0.0.0:5000")
)

// waitTime bounds every wait in these tests.
const waitTime = 30 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTime)
	t.Cleanup(cancel)
	return ctx
}

// checkLeaks fails the test if goroutines that were not running when it was
// called are still running when the test ends (waiting a while for them
// to exit, as they may be on their way out).
func checkLeaks(t *testing.T) {
	t.Helper()
	before := goroutineIDs()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			var leaked []string
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok && !strings.Contains(stack, "testing.(*T).Run") && !strings.Contains(stack, "testing.tRunner") {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond) // polling for exit; nothing to wait on
		}
	})
}

func goroutineIDs() map[string]struct{} {
	ids := make(map[string]struct{})
	for id := range goroutines() {
		ids[id] = struct{}{}
	}
	return ids
}

// goroutines returns the stacks of all goroutines by id, without the
// caller's.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	gs := make(map[string]string)
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller
		}
		s := string(g)
		id, _, _ := strings.Cut(strings.TrimPrefix(s, "goroutine "), " ")
		gs[id] = s
	}
	return gs
}

// seqPayload returns an 8-byte payload holding n.
func seqPayload(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// seqOf reads the number of a seqPayload.
func seqOf(d *dispatch.Datagram) uint64 { return binary.BigEndian.Uint64(d.Payload) }

func extractSeq(d *dispatch.Datagram) (uint64, bool) {
	if len(d.Payload) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(d.Payload), true
}

// serve starts srv.Serve and returns a channel that yields its result.
// The test fails if Serve has not returned when the test ends.
func serve(t *testing.T, srv *dispatch.Server, ctx context.Context) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- srv.Serve(ctx)
		close(finished)
	}()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-finished:
		case <-time.After(waitTime):
			t.Errorf("Serve did not return after Close")
		}
	})
	return done
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTime):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func newServer(t *testing.T, m *dispatch.Mux, cfg *dispatch.Config) *dispatch.Server {
	t.Helper()
	srv, err := dispatch.NewServer(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// seqGenerator makes n datagrams from src to g, numbered from 0.
func seqGenerator(n uint64, src netip.AddrPort, g netip.Addr) *dispatchtest.Generator {
	return dispatchtest.NewGenerator(n, local, func(i uint64, d *mcast.Datagram) {
		d.Payload = binary.BigEndian.AppendUint64(d.Payload[:0], i)
		d.Source, d.Group = src, g
	})
}

func handlerStats(t *testing.T, st dispatch.Stats, name string) dispatch.HandlerStats {
	t.Helper()
	h, ok := st.Handler(name)
	if !ok {
		names := []string{}
		for _, h := range st.Handlers {
			names = append(names, h.Name)
		}
		t.Fatalf("no handler %q in stats (have %v)", name, names)
	}
	return h
}

// checkBalance checks that every handler's datagrams are accounted for.
func checkBalance(t *testing.T, st dispatch.Stats) {
	t.Helper()
	for _, h := range st.Handlers {
		if h.Received != h.Delivered+h.Drops.Total() || h.Queued != 0 || h.InFlight != 0 {
			t.Errorf("handler %s: received %d != delivered %d + dropped %d (%+v), queued %d, in flight %d",
				h.Name, h.Received, h.Delivered, h.Drops.Total(), h.Drops, h.Queued, h.InFlight)
		}
	}
	if st.Buffers != st.BuffersFree {
		t.Errorf("%d of %d buffers not returned to the pool", st.Buffers-st.BuffersFree, st.Buffers)
	}
}

type dispatchtestRecorder = dispatchtest.Recorder

func newSource() *dispatchtest.Source {
	return dispatchtest.NewSource(&dispatchtest.SourceConfig{LocalAddr: local})
}

// syncWriter serialises writes to w (a logger's writer).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func seqAppend(b []byte, n uint64) []byte { return binary.BigEndian.AppendUint64(b, n) }

func netipAddrPort(a, b, c, d byte, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{a, b, c, d}), port)
}

// goroutineID returns the calling goroutine's id, from its stack.
func goroutineID() string {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	id, _, _ := strings.Cut(strings.TrimPrefix(s, "goroutine "), " ")
	return id
}
