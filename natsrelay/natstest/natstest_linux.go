package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

// Binary returns the path of a nats-server binary built from the version
// that natsrelay's go.mod pins with its tool directive (go build caches
// it), once a process; it is removed after the tests (testbed.AtExit).
// Where it cannot be built it fails the test under CI (CI set), and skips
// it elsewhere.
func Binary(t testing.TB) string {
	t.Helper()
	serverOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natsrelay-server")
		if err != nil {
			serverErr = err
			return
		}
		testbed.AtExit(func() { os.RemoveAll(dir) })
		serverBin = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", serverBin, "github.com/nats-io/nats-server/v2")
		cmd.Dir = moduleDir()
		out, err := cmd.CombinedOutput()
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

// moduleDir returns the directory of the natsrelay module, whose go.mod
// pins nats-server.
func moduleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Server is a nats-server process in a test bed host.
type Server struct {
	t    testing.TB
	h    *testbed.Host
	conf string
	addr string // host:port, as seen inside h
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs nats-server in h with the configuration conf, in which %s
// stands for a store directory of its own, and waits until it accepts
// connections on addr (host:port as seen from h). It is killed when the
// test ends.
func Start(t testing.TB, h *testbed.Host, addr, conf string) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, fmt.Appendf(nil, conf, filepath.Join(dir, "store")), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, h: h, conf: path, addr: addr}
	s.start(bin)
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start(bin string) {
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
func (s *Server) waitListening() {
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

// Kill stops the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Restart starts the server again, with its configuration and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.start(s.cmd.Path)
}

// Dialer opens connections inside a test bed host, so that the NATS
// client's reconnections leave from that host too (natsrelay.ConnConfig.Dialer).
type Dialer struct{ H *testbed.Host }

// Dial dials address from inside the host.
func (d Dialer) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := d.H.Do(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 2 * time.Second}).Dial(network, address)
		return err
	})
	return c, err
}

// Connect connects from host h as cfg says, and closes the connection
// when the test ends.
func Connect(t testing.TB, h *testbed.Host, cfg natsrelay.ConnConfig) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	cfg.Dialer = Dialer{h}
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
