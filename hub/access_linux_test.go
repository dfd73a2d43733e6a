package hub_test

import (
	"strings"
	"testing"

	"github.com/sharecast/sharecast/hub"
	"github.com/sharecast/sharecast/internal/testbed"
)

// Acceptance 4: a process of uid 65534 cannot attach to a hub of another
// user that allows no group (the 0600 default); with the hub allowing a
// group, a process of that group can, and one outside it still cannot.
func TestHubAccess(t *testing.T) {
	testbed.RequireRoot(t)
	const gid = 4242
	spec := "239.1.6.4:6004"
	closed, _ := startHub(t, []string{spec}, &hub.Config{Name: "t4closed"})
	grouped, _ := startHub(t, []string{"239.1.6.4:6014"}, &hub.Config{Name: "t4group", Group: "4242"})

	try := func(name string, uid, gid int) (int, string) {
		t.Helper()
		cmd := testbed.Command(t, "consumer", "-name", name)
		testbed.AsUser(t, cmd, uid, gid)
		p := start(t, cmd)
		first := <-p.lines
		if strings.HasPrefix(first, "attached") {
			p.stdin.Close()
			p.cmd.Process.Kill()
		}
		return p.wait(t), first
	}
	if code, line := try("t4closed", 65534, 65534); code != 3 || !strings.Contains(line, "uid 65534") {
		t.Errorf("uid 65534 attaching to a hub that allows no group: exit %d, %q; want 3, denied", code, line)
	}
	if code, line := try("t4group", 65534, 65534); code != 3 {
		t.Errorf("uid 65534 outside group %d: exit %d, %q; want 3, denied", gid, code, line)
	}
	if code, line := try("t4group", 65534, gid); !strings.HasPrefix(line, "attached") {
		t.Errorf("uid 65534 in group %d: exit %d, %q; want attached", gid, code, line)
	}
	if st := closed.Stats(); st.Refused != 1 || st.Attached != 0 {
		t.Errorf("closed hub: refused %d, attached %d; want 1, 0", st.Refused, st.Attached)
	}
	if st := grouped.Stats(); st.Refused != 1 || st.Attached != 1 {
		t.Errorf("group hub: refused %d, attached %d; want 1, 1", st.Refused, st.Attached)
	}
	// The hub's own user (root here) attaches to both.
	for _, name := range []string{"t4closed", "t4group"} {
		c, err := hub.Attach(name, nil)
		if err != nil {
			t.Fatalf("the hub's own user: %v", err)
		}
		c.Close()
	}
}

// A consumer refuses a hub that runs as a user it does not trust: the
// name could be anyone's.
func TestHubUntrusted(t *testing.T) {
	testbed.RequireRoot(t)
	cmd := testbed.Command(t, "hub", "-name", "t4evil", "239.1.6.4:6024")
	testbed.AsUser(t, cmd, 65534, 65534)
	h := start(t, cmd)
	h.expect(t, "ready")
	// Root trusts only root's own hubs and those it names.
	if _, err := hub.Attach("t4evil", nil); err == nil || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("attach to uid 65534's hub: %v, want ErrUntrustedHub", err)
	}
	c, err := hub.Attach("t4evil", &hub.AttachConfig{TrustUIDs: []int{65534}})
	if err != nil {
		t.Fatalf("attach trusting uid 65534: %v", err)
	}
	c.Close()
}
