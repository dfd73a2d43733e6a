package mcast_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// bindHelper binds a port with a share mode and prints "ok", "inuse",
// "access" or the error.
func bindHelper(args []string) int {
	fs := flag.NewFlagSet("bind", flag.ContinueOnError)
	addr := fs.String("addr", ":5000", "address")
	share := fs.String("share", "any", "share mode")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sh, err := mcast.ParseShare(*share)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	fmt.Println(bindOutcome(sh, *addr))
	return 0
}

func bindOutcome(sh mcast.Share, addr string) string {
	c, err := mcast.Listen(context.Background(), "udp4", addr, &mcast.Config{Share: sh})
	switch {
	case err == nil:
		c.Close()
		return "ok"
	case errors.Is(err, mcast.ErrPortInUse):
		return "inuse"
	case errors.Is(err, mcast.ErrAccessDenied):
		return "access"
	}
	return err.Error()
}

// Acceptance 4: the sharing modes on Linux, within one user and across two.
func TestShareModes(t *testing.T) {
	testbed.Require(t)
	modes := []mcast.Share{mcast.ShareAnyUser, mcast.ShareSameUser, mcast.ShareExclusive}
	// Same user: a mode shares with itself, and with nothing else (any sets
	// only SO_REUSEADDR, same-user only SO_REUSEPORT).
	for _, first := range modes {
		for _, second := range modes {
			t.Run(fmt.Sprintf("same-uid/%s-then-%s", first, second), func(t *testing.T) {
				c := listen(t, "udp4", ":5100", &mcast.Config{Share: first})
				_ = c
				want := "inuse"
				if first != mcast.ShareExclusive && first == second {
					want = "ok"
				}
				if got := bindOutcome(second, ":5100"); got != want {
					t.Errorf("second bind: %s, want %s", got, want)
				}
			})
		}
	}
	// The error names the mode and the port.
	listen(t, "udp4", ":5101", &mcast.Config{Share: mcast.ShareExclusive})
	_, err := mcast.Listen(context.Background(), "udp4", ":5101", nil)
	if !errors.Is(err, mcast.ErrPortInUse) || !strings.Contains(err.Error(), "share=any") || !strings.Contains(err.Error(), "0.0.0.0:5101") {
		t.Errorf("error %q: want ErrPortInUse naming share=any and 0.0.0.0:5101", err)
	}
}

// Acceptance 4, another user: a process of uid 65534 is refused by a
// same-user port and by an exclusive port, and accepted by an any-user one.
func TestShareModesOtherUser(t *testing.T) {
	testbed.RequireRoot(t)
	for _, tc := range []struct {
		held mcast.Share
		want string
	}{
		{mcast.ShareAnyUser, "ok"},
		{mcast.ShareSameUser, "inuse"},
		{mcast.ShareExclusive, "inuse"},
	} {
		t.Run(tc.held.String(), func(t *testing.T) {
			listen(t, "udp4", ":5200", &mcast.Config{Share: tc.held})
			// The intruder tries every mode; only any-user can ever join.
			for _, mode := range []string{"any", "user", "exclusive"} {
				cmd := testbed.Command(t, "bind", "-addr", ":5200", "-share", mode)
				testbed.AsUser(t, cmd, 65534, 65534)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("helper: %v", err)
				}
				got := strings.TrimSpace(string(out))
				want := "inuse"
				if mode == "any" {
					want = tc.want
				}
				if got != want {
					t.Errorf("uid 65534 with share=%s on a %s port: %s, want %s", mode, tc.held, got, want)
				}
			}
		})
	}
}
