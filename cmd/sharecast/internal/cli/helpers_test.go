package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// output collects a process's output and tells waiters when it grows.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.buf.Write(p)
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until ok holds for the output, or fails the test.
func (o *output) waitFor(t *testing.T, what string, timeout time.Duration, ok func(string) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !ok(o.String()) {
		select {
		case <-o.changed:
		case <-deadline.C:
			t.Fatalf("no %s after %v; output:\n%s", what, timeout, o.String())
		}
	}
}

// proc is a sharecast process.
type proc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr *output
	done           chan struct{}
	code           int
}

// command returns the sharecast command with args, run by the test binary.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return testbed.Command(t, "sharecast", args...)
}

// start starts sharecast with args; the process is killed when the test ends.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startCmd(t, command(t, args...), args)
}

// startAs starts sharecast with args as another user.
func startAs(t *testing.T, uid int, args ...string) *proc {
	t.Helper()
	cmd := command(t, args...)
	testbed.AsUser(t, cmd, uid, uid)
	return startCmd(t, cmd, args)
}

func startCmd(t *testing.T, cmd *exec.Cmd, args []string) *proc {
	t.Helper()
	return startCmdWith(t, cmd, args, cmd.Start)
}

// startCmdWith is startCmd with start to start cmd (such as a test bed
// host's Start, to run it in the host).
func startCmdWith(t *testing.T, cmd *exec.Cmd, args []string, start func() error) *proc {
	t.Helper()
	p := &proc{args: args, cmd: cmd, stdout: newOutput(), stderr: newOutput(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := start(); err != nil {
		t.Fatalf("start sharecast %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("sharecast %s: exit %d\nstdout:\n%.4000s\nstderr:\n%.4000s", strings.Join(args, " "), p.code, p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its status.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("sharecast %s still running after %v; stderr:\n%s", strings.Join(p.args, " "), timeout, p.stderr.String())
		return 0
	}
}

// stop sends SIGTERM and waits for the exit status.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t, 20*time.Second)
}

// listening waits until the process has joined its groups (n sockets).
func (p *proc) listening(t *testing.T, n int) {
	t.Helper()
	p.stderr.waitFor(t, "listening log", 20*time.Second, func(s string) bool {
		return strings.Count(s, `"message":"listening"`) >= n
	})
}

// run runs sharecast to its end and returns its status and output.
func run(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	p := start(t, args...)
	code := p.wait(t, timeout)
	return code, p.stdout.String(), p.stderr.String()
}

// freePort returns a UDP port that no socket of the namespace holds.
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func groupAt(g string, port uint16) string { return fmt.Sprintf("%s:%d", g, port) }

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// noPanic fails the test if a process's output shows a panic.
func noPanic(t *testing.T, outs ...string) {
	t.Helper()
	for _, o := range outs {
		if strings.Contains(o, "panic:") || strings.Contains(o, "goroutine ") {
			t.Fatalf("panic in output:\n%s", o)
		}
	}
}
