package hub_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/sharecast/sharecast/hub"
	"github.com/sharecast/sharecast/internal/testbed"
)

// consumerTotals sums one consumer's counters over the hub's rings.
func consumerTotals(st hub.Stats, slot int) (found bool, next, written, delivered, overrun uint64) {
	for _, c := range st.Consumers {
		if c.Slot == slot {
			for _, r := range c.Rings {
				next += r.Next
				delivered += r.Delivered
				overrun += r.Overrun
			}
			found = true
		}
	}
	for _, r := range st.Rings {
		written += r.Written
	}
	return
}

func kernelDrops(st hub.Stats) uint64 {
	var n uint64
	for _, s := range st.Server.Sockets {
		if s.Kernel != nil {
			n += s.Kernel.KernelDrops + s.Kernel.Truncated
		}
	}
	return n
}

// Acceptance 1: a hub and 4 consumer processes (two with inline handlers,
// two queued): each gets every one of 100,000 datagrams, in order, byte
// for byte, with the metadata the hub saw (a digest chained over payload,
// source, group, port, interface, TTL and kernel timestamp).
func TestHubFourConsumers(t *testing.T) {
	testbed.Require(t)
	const total = 100_000
	spec := "239.1.6.1:6001"
	// A ring longer than the run: no consumer can be overrun, however
	// slowly this machine runs it.
	h, tap := startHub(t, []string{spec}, &hub.Config{Name: "t1", Slots: 1 << 17, MaxDatagram: 256})
	var cons []*proc
	for i := range 4 {
		args := []string{"-name", "t1"}
		if i%2 == 1 {
			args = append(args, "-queued")
		}
		p := start(t, testbed.Command(t, "consumer", args...))
		p.expect(t, "attached")
		cons = append(cons, p)
	}
	s := testbed.NewSender(t, mustAddrPort(spec), nil, netipZero)
	send(t, s, 1, 0, total)
	until(t, "written", func() bool { _, _, w, _, _ := consumerTotals(h.Stats(), -1); return w == total })
	st := h.Stats()
	if d := kernelDrops(st); d != 0 {
		t.Fatalf("the hub's socket dropped %d datagrams (the pacing failed)", d)
	}
	if len(st.Consumers) != 4 {
		t.Fatalf("hub lists %d consumers, want 4", len(st.Consumers))
	}
	for _, c := range st.Consumers {
		until(t, "caught up", func() bool { _, next, w, _, _ := consumerTotals(h.Stats(), c.Slot); return next == w })
	}
	h.Close() // the consumers read to the end, then learn that the hub is gone
	want := tap.String()
	if !strings.HasPrefix(want, fmt.Sprintf("n=%d ", total)) || !strings.Contains(want, "gaps=none bad=none") {
		t.Fatalf("the hub wrote %s, want %d datagrams in order", want, total)
	}
	for i, p := range cons {
		res := p.expect(t, "result")
		if code := p.wait(t); code != 0 {
			t.Fatalf("consumer %d exited %d", i, code)
		}
		if got := strings.TrimPrefix(res, "result "); !strings.HasPrefix(got, want+" overrun=0 truncated=0 gone=true") {
			t.Errorf("consumer %d: %s\nwant %s overrun=0 truncated=0 gone=true", i, got, want)
		}
	}
}

// Acceptance 2: a consumer that stops reading (its handler waits on a
// gate) loses exactly the datagrams the hub overwrote meanwhile, counts
// them, and goes on from the oldest one still in the ring; another
// consumer loses nothing; the hub writes on regardless.
func TestHubStalledConsumer(t *testing.T) {
	testbed.Require(t)
	const slots = 1024
	spec := "239.1.6.2:6002"
	h, tap := startHub(t, []string{spec}, &hub.Config{Name: "t2", Slots: slots, MaxDatagram: 256})
	fast := start(t, testbed.Command(t, "consumer", "-name", "t2"))
	fastSlot := int(fieldU(t, fast.expect(t, "attached"), "slot"))
	slow := start(t, testbed.Command(t, "consumer", "-name", "t2", "-gate", "100"))
	slowSlot := int(fieldU(t, slow.expect(t, "attached"), "slot"))
	s := testbed.NewSender(t, mustAddrPort(spec), nil, netipZero)

	// The slow one stops inside its 100th datagram; where it stands in
	// the ring then (P) is what it read into its batch.
	send(t, s, 1, 0, 100)
	slow.expect(t, "gated")
	until(t, "100 written", func() bool { _, _, w, _, _ := consumerTotals(h.Stats(), slowSlot); return w == 100 })
	_, p, _, _, _ := consumerTotals(h.Stats(), slowSlot)
	if p < 100 {
		t.Fatalf("the gated consumer stands at %d, before its 100th datagram", p)
	}
	// Five rings' worth while it waits, in bursts that the fast one
	// reads to the end before the next, so that it is never overrun.
	const stalled = 5 * slots
	for from := uint64(100); from < 100+stalled; from += 256 {
		send(t, s, 1, from, from+256)
		until(t, "fast consumer caught up", func() bool {
			_, next, w, _, _ := consumerTotals(h.Stats(), fastSlot)
			return w == from+256 && next == w
		})
	}
	head := uint64(100 + stalled)
	if _, next, w, _, _ := consumerTotals(h.Stats(), slowSlot); w != head || next != p {
		t.Fatalf("hub wrote %d (want %d); the gated consumer moved from %d to %d", w, head, p, next)
	}
	fmt.Fprintln(slow.stdin, "go")
	until(t, "slow consumer caught up", func() bool {
		_, next, _, _, _ := consumerTotals(h.Stats(), slowSlot)
		return next == head
	})
	send(t, s, 1, head, head+10)
	total := head + 10
	until(t, "both caught up", func() bool {
		_, n1, w, _, _ := consumerTotals(h.Stats(), slowSlot)
		_, n2, _, _, _ := consumerTotals(h.Stats(), fastSlot)
		return w == total && n1 == w && n2 == w
	})
	if d := kernelDrops(h.Stats()); d != 0 {
		t.Fatalf("the hub's socket dropped %d datagrams", d)
	}
	_, _, _, delivered, overrun := consumerTotals(h.Stats(), slowSlot)
	h.Close()

	want := tap.String()
	if !strings.HasPrefix(want, fmt.Sprintf("n=%d ", total)) {
		t.Fatalf("the hub wrote %s, want %d datagrams", want, total)
	}
	res := fast.expect(t, "result")
	if got := strings.TrimPrefix(res, "result "); !strings.HasPrefix(got, want+" overrun=0 truncated=0 gone=true") {
		t.Errorf("fast consumer: %s\nwant %s overrun=0", got, want)
	}
	// On release the slow one finds slot P overwritten: it skips to the
	// oldest datagram still whole, head-slots+1, and counts the rest.
	oldest := head - slots + 1
	res = slow.expect(t, "result")
	wantOverrun := oldest - p
	if got := fieldU(t, res, "overrun"); got != wantOverrun {
		t.Errorf("slow consumer counted %d overrun, want %d (stood at %d, head %d, %d slots)", got, wantOverrun, p, head, slots)
	}
	if got := fieldU(t, res, "n"); got != total-wantOverrun {
		t.Errorf("slow consumer got %d datagrams, want %d", got, total-wantOverrun)
	}
	if gaps := field(t, res, "gaps"); gaps != fmt.Sprintf("%d-%d", p, oldest) {
		t.Errorf("slow consumer's gaps %s, want %d-%d", gaps, p, oldest)
	}
	if b := field(t, res, "bad"); b != "none" {
		t.Errorf("slow consumer: bad datagrams: %s", b)
	}
	if delivered+overrun != total {
		t.Errorf("hub's view of the slow consumer: delivered %d + overrun %d != %d accepted", delivered, overrun, total)
	}
	for _, p := range []*proc{fast, slow} {
		if code := p.wait(t); code != 0 {
			t.Errorf("consumer exited %d", code)
		}
	}
}

// fds counts the test process's open file descriptors.
func fds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// memfdMaps counts the test process's mappings of memfds.
func memfdMaps(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "/memfd:")
}

// Acceptance 3: consumers attach, read and are killed with SIGKILL, 120
// times over, while another reads throughout: the hub goes on, the other
// consumer gets every datagram, and nothing leaks (file descriptors,
// consumer slots, mappings, goroutines).
func TestHubKillLoop(t *testing.T) {
	testbed.Require(t)
	const rounds, per = 120, 20
	spec := "239.1.6.3:6003"
	// Four slots: a leaked slot would make the attaches fail after 3.
	h, tap := startHub(t, []string{spec}, &hub.Config{Name: "t3", Slots: 1 << 13, MaxDatagram: 256, MaxConsumers: 4})
	steady := start(t, testbed.Command(t, "consumer", "-name", "t3"))
	steady.expect(t, "attached")
	s := testbed.NewSender(t, mustAddrPort(spec), nil, netipZero)
	send(t, s, 1, 0, per)
	fd0, maps0, g0 := fds(t), memfdMaps(t), runtime.NumGoroutine()
	n := uint64(per)
	for i := range rounds {
		victim := start(t, testbed.Command(t, "consumer", "-name", "t3"))
		victim.expect(t, "attached")
		send(t, s, 1, n, n+per)
		n += per
		victim.expect(t, "reading")
		victim.cmd.Process.Signal(syscall.SIGKILL)
		if code := victim.wait(t); code != -1 {
			t.Fatalf("round %d: the victim exited %d, not by SIGKILL", i, code)
		}
		until(t, "victim detached", func() bool { return len(h.Stats().Consumers) == 1 })
	}
	st := h.Stats()
	if st.Attached != rounds+1 || st.Detached != rounds || st.Refused != 0 {
		t.Fatalf("attached %d, detached %d, refused %d; want %d, %d, 0", st.Attached, st.Detached, st.Refused, rounds+1, rounds)
	}
	until(t, "goroutines back", func() bool { return runtime.NumGoroutine() <= g0 })
	if fd, m := fds(t), memfdMaps(t); fd != fd0 || m != maps0 {
		t.Fatalf("after %d kills: %d fds (was %d), %d memfd mappings (was %d)", rounds, fd, fd0, m, maps0)
	}
	until(t, "steady consumer caught up", func() bool {
		_, next, w, _, _ := consumerTotals(h.Stats(), st.Consumers[0].Slot)
		return w == n && next == n
	})
	h.Close()
	want := tap.String()
	res := steady.expect(t, "result")
	if got := strings.TrimPrefix(res, "result "); !strings.HasPrefix(got, want+" overrun=0 truncated=0 gone=true") ||
		!strings.HasPrefix(want, fmt.Sprintf("n=%d ", n)) {
		t.Errorf("steady consumer: %s\nhub wrote %s, want n=%d", got, want, n)
	}
}

// Acceptance 5: a hub killed with SIGKILL: its consumer's Serve says the
// hub is gone; nothing answers under the name until a new hub starts; a
// consumer that attaches again gets the new hub's datagrams only, and the
// old consumer never reads the new ring nor anything more from the old.
func TestHubKilled(t *testing.T) {
	testbed.Require(t)
	spec := "239.1.6.5:6005"
	h1 := start(t, testbed.Command(t, "hub", "-name", "t5", spec))
	pid1 := fieldU(t, h1.expect(t, "ready"), "pid")
	c1 := start(t, testbed.Command(t, "consumer", "-name", "t5"))
	c1.expect(t, "attached")
	s := testbed.NewSender(t, mustAddrPort(spec), nil, netipZero)
	send(t, s, 1, 0, 100)
	c1.expect(t, "reading")
	h1.cmd.Process.Signal(syscall.SIGKILL)
	h1.wait(t)
	res := c1.expect(t, "result")
	if field(t, res, "gone") != "true" || field(t, res, "gaps") != "none" || field(t, res, "bad") != "none" {
		t.Fatalf("consumer of the killed hub: %s", res)
	}
	if code := c1.wait(t); code != 0 {
		t.Fatalf("consumer of the killed hub exited %d", code)
	}
	// Nothing is found under the name now: the old ring is not live.
	if _, err := hub.Attach("t5", nil); !errors.Is(err, hub.ErrNoHub) {
		t.Fatalf("attach with the hub dead: %v, want ErrNoHub", err)
	}
	h2 := start(t, testbed.Command(t, "hub", "-name", "t5", spec))
	pid2 := fieldU(t, h2.expect(t, "ready"), "pid")
	c2, err := hub.Attach("t5", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.HubPID() != int(pid2) || pid2 == pid1 {
		t.Fatalf("attached to hub pid %d, want the new one %d (old %d)", c2.HubPID(), pid2, pid1)
	}
	send(t, s, 2, 0, 100)
	tl := newTally()
	ds := make([]mcastDatagram, 16)
	for i := range ds {
		ds[i].Payload = make([]byte, 512)
	}
	src := c2.Sources()[0]
	for tl.n < 100 {
		k, err := src.ReadBatch(ds)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			d := toDispatch(&ds[i], src.LocalAddr().Port())
			tl.add(&d)
		}
	}
	if len(tl.streams) != 1 || tl.streams[2] != 100 || tl.String()[:6] != "n=100 " || len(tl.gaps) != 0 {
		t.Fatalf("from the new hub: %s, streams %v; want 100 datagrams of stream 2", tl, tl.streams)
	}
	if src.Overrun() != 0 {
		t.Fatalf("overrun %d", src.Overrun())
	}
}
