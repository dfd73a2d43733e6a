package mdns_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/mdns"
)

// startAgent runs an Agent on ifname until the test ends; its changes come
// on the returned channel.
func startAgent(t *testing.T, ifname string) (*mdns.Agent, <-chan mdns.Change) {
	t.Helper()
	a, c := startAgentWith(t, &mdns.Config{Interfaces: []string{ifname}})
	return a, c.changes
}

// collector receives an Agent's changes: those of the services of a flood
// (type _flood._tcp) are counted, the others come on changes.
type collector struct {
	changes chan mdns.Change

	mu        sync.Mutex
	flood     map[mdns.ChangeKind]int
	mostAddrs int // in any change
}

func (c *collector) onChange(ch mdns.Change) {
	c.mu.Lock()
	c.mostAddrs = max(c.mostAddrs, len(ch.Service.Addrs))
	flood := strings.HasSuffix(ch.Service.Instance, "._flood._tcp.local.")
	if flood {
		c.flood[ch.Kind]++
	}
	c.mu.Unlock()
	if !flood {
		c.changes <- ch
	}
}

func (c *collector) counts() (flood map[mdns.ChangeKind]int, mostAddrs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flood, c.mostAddrs
}

// startAgentWith runs an Agent with cfg (its OnChange replaced) until the
// test ends.
func startAgentWith(t *testing.T, cfg *mdns.Config) (*mdns.Agent, *collector) {
	t.Helper()
	c := &collector{changes: make(chan mdns.Change, 1000), flood: map[mdns.ChangeKind]int{}}
	cfg.OnChange = c.onChange
	a, err := mdns.New(context.Background(), cfg)
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
	return a, c
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
