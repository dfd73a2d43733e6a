package cli_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

// Without the rights to make a network namespace, the demo says what it
// needs and exits 1. The test takes the right away: it runs the demo in a
// user namespace of its own whose limit of network namespaces is 0.
func TestDemoWithoutNamespace(t *testing.T) {
	testbed.Require(t)
	cmd := command(t, "demo", "--duration", "1s")
	wrapped := exec.Command("/bin/sh", append([]string{"-c", `echo 0 > /proc/sys/user/max_net_namespaces && exec "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)...)
	wrapped.Env = cmd.Env
	wrapped.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	p := startCmd(t, wrapped, []string{"demo (no namespaces)"})
	code := p.wait(t, 30*time.Second)
	errOut := p.stderr.String()
	noPanic(t, p.stdout.String(), errOut)
	if code != 1 || !strings.Contains(errOut, "sharecast demo needs a private network namespace: run as root, or enable unprivileged user namespaces") ||
		strings.Contains(p.stdout.String(), "Sending") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, p.stdout.String(), errOut)
	}
}
