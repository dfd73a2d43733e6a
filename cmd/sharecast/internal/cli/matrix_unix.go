//go:build unix

package cli

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/rs/zerolog"
)

// startBindChild starts the process that makes the second binds as
// another user: this executable, with the hidden __matrix-bind subcommand,
// as uid (and gid) uid. It needs root.
func startBindChild(network string, wildcard, specific fmt.Stringer, uid int, log zerolog.Logger) (*bindChild, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("binding as another user needs root (run: sudo sharecast matrix)")
	}
	if uid == os.Geteuid() {
		return nil, fmt.Errorf("--other-uid %d is this user", uid)
	}
	if err := uidMapped(uid); err != nil {
		return nil, err
	}
	cmd := exec.Command(selfExe(), "__matrix-bind", "--network", network, "--wildcard", wildcard.String(), "--specific", specific.String())
	cmd.Dir = "/" // the other user may not enter the working directory
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a process as uid %d: %w", uid, err)
	}
	log.Debug().Int("pid", cmd.Process.Pid).Int("uid", uid).Msg("started the other user's bind process")
	return &bindChild{in: in, out: bufio.NewReader(out), stop: func() {
		in.Close()
		_ = cmd.Wait() // it exits at the end of its input; its status says nothing more
	}}, nil
}
