package mdns_test

import (
	"context"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/mdns"
)

// startAgent runs an Agent on ifname until the test ends; its changes come
// on the returned channel.
func startAgent(t *testing.T, ifname string) (*mdns.Agent, <-chan mdns.Change) {
	t.Helper()
	changes := make(chan mdns.Change, 100)
	a, err := mdns.New(context.Background(), &mdns.Config{
		Interfaces: []string{ifname},
		OnChange:   func(c mdns.Change) { changes <- c },
	})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()
	t.Cleanup(func() {
		a.Close()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	return a, changes
}

// waitChange waits for a change of kind to instance.
func waitChange(t *testing.T, changes <-chan mdns.Change, kind mdns.ChangeKind, instance string, d time.Duration) mdns.Service {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case c := <-changes:
			t.Logf("change: %s %+v", c.Kind, c.Service)
			if c.Kind == kind && c.Service.Instance == instance {
				return c.Service
			}
		case <-deadline:
			t.Fatalf("no %s change for %s within %v", kind, instance, d)
		}
	}
}
