package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// readmeShort is the README's library example, word for word between the
// README markers but for the two names that TestReadmeShortIsTheReadmes
// replaces (parent, spec): the test bed runs it on a group of its own.
func readmeShort(parent context.Context, spec string) {
	// README begin
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Share port 5000, join 239.1.2.3 on eth0 (again by itself when eth0 comes
	// back), and serve each datagram to the handler until Ctrl-C; then drain,
	// leave, close, and count.
	st, err := dispatch.ListenAndServe(ctx, []string{spec},
		dispatch.HandlerFunc(func(ctx context.Context, d *dispatch.Datagram) {
			fmt.Printf("%s from %s: %q\n", d.Group, d.Source, d.Payload) // valid during the call only
		}), nil)
	if err != nil {
		log.Fatal(err) // says what was wrong: errors.Is(err, group.ErrNoInterface), mcast.ErrPortInUse, ...
	}
	h := st.Handlers[0]
	fmt.Printf("received %d, delivered %d, dropped %d\n", h.Received, h.Delivered, h.Drops.Total())
	// README end
}

// The README's example is readmeShort's text.
func TestReadmeShortIsTheReadmes(t *testing.T) {
	src, err := os.ReadFile("readme_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := between(t, string(src), "\t// README begin\n", "\t// README end\n")
	var want strings.Builder
	for _, l := range strings.SplitAfter(body, "\n") {
		want.WriteString(strings.TrimPrefix(l, "\t"))
	}
	code := strings.NewReplacer("(parent,", "(context.Background(),", "[]string{spec}", `[]string{"239.1.2.3:5000%eth0"}`).Replace(want.String())
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ReplaceAll(string(readme), "    ", "\t"), "```go\n"+code+"```\n") {
		t.Errorf("README.md has no Go block that is readmeShort's text; want:\n%s", code)
	}
}

func between(t *testing.T, s, begin, end string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, begin)
	body, _, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("no %q ... %q in the text", begin, end)
	}
	return body
}

// The README's example runs: on a group of the test bed, it prints every
// datagram sent after it joined, and its counts agree.
func TestReadmeShortRuns(t *testing.T) {
	testbed.Require(t)
	const n = 200
	grp := netip.MustParseAddrPort("239.7.7.1:6701")

	// Its output goes to stdout: read it through a pipe.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	lines := make(chan string, 2*n)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		readmeShort(ctx, grp.String()+"%lo")
	}()

	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	snd := testbed.NewSender(t, grp, lo, netip.MustParseAddr("127.0.0.1"))
	// Until it has joined, the kernel delivers nothing: probe until the
	// first line comes back (each probe is one datagram, and the kernel
	// delivers the rest of them once it has joined).
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	got := map[string]int{}
	line := func(l string) {
		_, payload, ok := strings.Cut(l, ": ")
		if !ok {
			t.Errorf("unexpected line %q", l)
			return
		}
		got[payload]++
	}
probe:
	for i := 0; ; i++ {
		if err := snd.Send(fmt.Appendf(nil, "probe %d", i)); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-lines:
			line(l)
			break probe
		case <-tick.C:
		case <-deadline:
			t.Fatal("the example printed nothing: it did not join, or did not serve")
		}
	}
	for i := range n {
		if err := snd.Send(fmt.Appendf(nil, "datagram %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := func() bool { return got[fmt.Sprintf("%q", fmt.Sprintf("datagram %d", n-1))] > 0 }
	for !want() {
		select {
		case l := <-lines:
			line(l)
		case <-deadline:
			t.Fatalf("the example printed %d lines, not the last datagram", len(got))
		}
	}
	cancel()
	select {
	case <-done:
	case <-deadline:
		t.Fatal("the example did not return after its context ended")
	}
	w.Close()
	var summary string
	for l := range lines {
		if strings.HasPrefix(l, "received ") {
			summary = l
			continue
		}
		line(l)
	}
	total := 0
	for p, c := range got {
		if c != 1 {
			t.Errorf("payload %s printed %d times", p, c)
		}
		total += c
	}
	for i := range n {
		if got[fmt.Sprintf("%q", fmt.Sprintf("datagram %d", i))] != 1 {
			t.Errorf("datagram %d not printed once", i)
		}
	}
	if wantSum := fmt.Sprintf("received %d, delivered %d, dropped 0", total, total); summary != wantSum {
		t.Errorf("summary %q, want %q", summary, wantSum)
	}
	t.Logf("%d probes and %d datagrams printed; %s", total-n, n, summary)
}

// Example_readmeParts is the README's long form, with the parts that
// ListenAndServe puts together; it is here so that it compiles with every
// change.
func Example_readmeParts() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := zerolog.New(zerolog.NewConsoleWriter()).With().Timestamp().Logger()

	// A socket on port 5000 that any other receiver on the host may share.
	conn, err := mcast.Listen(ctx, "udp4", ":5000", &mcast.Config{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// Join a group on eth0; rejoined by itself if eth0 goes down and up.
	set, err := group.New(conn, &group.Config{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	spec := group.MustParseSpec("239.1.2.3:5000%eth0")
	if err := set.Join(spec); err != nil {
		log.Fatal(err) // names what was wrong: errors.Is(err, group.ErrNoInterface), ...
	}

	// Two handlers, each with its own queue: a slow one cannot stall the other.
	var mux dispatch.Mux
	feed := dispatch.Pattern{Group: spec.Group}
	mux.HandleFunc(feed, func(ctx context.Context, d *dispatch.Datagram) {
		fmt.Printf("%s: %d bytes\n", d.Source, len(d.Payload)) // d.Payload is valid during the call only
	}, nil)
	mux.HandleFunc(feed, func(ctx context.Context, d *dispatch.Datagram) {
		// archive a copy: append([]byte(nil), d.Payload...)
	}, &dispatch.HandlerConfig{QueueLen: 65536, Overflow: dispatch.DropOldest})

	srv, err := dispatch.NewServer(&mux, &dispatch.Config{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.AddSource("eth0", conn); err != nil {
		log.Fatal(err)
	}
	if err := srv.Serve(ctx); err != nil {
		log.Print(err)
	}
	st := srv.Stats() // every drop, by cause: kernel, truncated, filtered, queue, panic, shutdown
	fmt.Printf("%+v\n", st.Handlers)
}
