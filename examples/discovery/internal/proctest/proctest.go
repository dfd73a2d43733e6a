//go:build linux

// Package proctest runs the real programs that the discovery example's
// tests work beside (avahi-daemon, dbus-daemon, minidlna, minissdpd):
// each one's output goes to the test's log, a line that says it is ready
// is waited for, and it is stopped when the test ends.
package proctest

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a program started by [Start].
type Process struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{} // closed when it has exited
	mu    sync.Mutex
	lines []string
}

// Start starts cmd (or, if start is not nil, has start start it: to start
// it in another network namespace), logs its output under name, and
// returns it and a channel that gets the first line containing marker.
// The process is stopped when the test ends.
func Start(t testing.TB, name string, cmd *exec.Cmd, marker string, start func(*exec.Cmd) error) (*Process, <-chan string) {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if start == nil {
		start = (*exec.Cmd).Start
	}
	if err := start(cmd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(pr)
		var once sync.Once
		for sc.Scan() {
			t.Logf("%s: %s", name, sc.Text())
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			if marker != "" && strings.Contains(sc.Text(), marker) {
				once.Do(func() { found <- sc.Text() })
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		<-logged
		close(p.done)
	}()
	t.Cleanup(func() { p.Stop(t) })
	return p, found
}

// Lines returns what the process printed so far, a line an entry.
func (p *Process) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Done is closed when the process has exited and its output is read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends the process: SIGTERM, and SIGKILL after five seconds. It may
// be called more than once.
func (p *Process) Stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Logf("%s: no exit 5s after SIGTERM; killing it", p.name)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// WaitLine waits for a line on c (from [Start]) for at most d.
func WaitLine(t testing.TB, name string, c <-chan string, d time.Duration) string {
	t.Helper()
	select {
	case l := <-c:
		return l
	case <-time.After(d):
		t.Fatalf("%s not ready within %v", name, d)
		return ""
	}
}
