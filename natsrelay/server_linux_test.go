package natsrelay_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/natsrelay"
)

var (
	serverOnce sync.Once
	serverBin  string
	serverErr  error
)

// natsServer returns the path of a nats-server binary built from the
// version that go.mod's tool directive pins (go build caches it). Where
// it cannot be built it fails the test under CI, and skips it elsewhere.
func natsServer(t *testing.T) string {
	t.Helper()
	serverOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natsrelay-server")
		if err != nil {
			serverErr = err
			return
		}
		testbed.AtExit(func() { os.RemoveAll(dir) })
		serverBin = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", serverBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			serverErr = fmt.Errorf("go build nats-server: %w\n%s", err, out)
		}
	})
	if serverErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nats-server is needed: %v", serverErr)
		}
		t.Skipf("nats-server unavailable: %v", serverErr)
	}
	return serverBin
}

// server is a nats-server process in a test bed host.
type server struct {
	t    *testing.T
	h    *testbed.Host
	conf string
	addr string // host:port, as seen inside h
	cmd  *exec.Cmd
	done chan struct{}
}

// startServer runs nats-server in h with the configuration conf (in
// which %s stands for its own store directory), listening on addr.
func startServer(t *testing.T, h *testbed.Host, addr, conf string) *server {
	t.Helper()
	bin := natsServer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, fmt.Appendf(nil, conf, filepath.Join(dir, "store")), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, h: h, conf: path, addr: addr}
	s.start(bin)
	t.Cleanup(s.kill)
	return s
}

func (s *server) start(bin string) {
	s.t.Helper()
	s.cmd = exec.Command(bin, "-c", s.conf)
	if testing.Verbose() {
		s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := s.h.Start(s.cmd); err != nil {
		s.t.Fatalf("start nats-server in %s: %v", s.h.Name, err)
	}
	done := make(chan struct{})
	s.done = done
	cmd := s.cmd
	go func() { cmd.Wait(); close(done) }()
	s.waitListening()
}

// waitListening waits until the server accepts connections.
func (s *server) waitListening() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := s.h.Do(func() error {
			c, err := net.DialTimeout("tcp", s.addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("nats-server in %s exited", s.h.Name)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server in %s not listening on %s after 60 s: %v", s.h.Name, s.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the port: the server gives no other signal
	}
}

// kill stops the server with SIGKILL and waits for it to exit.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// restart starts the server again, on the same store.
func (s *server) restart() {
	s.t.Helper()
	s.start(s.cmd.Path)
}

// hostDialer opens connections inside a test bed host, so that the NATS
// client's reconnections leave from that host too.
type hostDialer struct{ h *testbed.Host }

func (d hostDialer) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := d.h.Do(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 2 * time.Second}).Dial(network, address)
		return err
	})
	return c, err
}

// connect connects from host h to url, closing the connection when the
// test ends.
func connect(t *testing.T, h *testbed.Host, cfg natsrelay.ConnConfig) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	cfg.Dialer = hostDialer{h}
	nc, err := natsrelay.Connect(&cfg)
	if err != nil {
		t.Fatalf("connect from %s: %v", h.Name, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// ctxT returns a context that ends when the test does, or after d.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
