package ssdp_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sharecast/sharecast/examples/discovery/ssdp"
	"github.com/sharecast/sharecast/internal/testbed"
)

// TestAgentLoopback runs the agent on lo with a fake device of each
// family: a search from the agent's own socket is answered there, the
// answers add the devices, their descriptions are fetched, and a byebye
// removes one.
func TestAgentLoopback(t *testing.T) {
	testbed.Require(t)
	a, changes := startAgent(t, ssdp.Config{Interfaces: []string{"lo"}})
	d4 := newFakeDevice(t, ssdp.GroupIPv4, "uuid:00000000-0000-0000-0000-000000000004", "Fake Four")
	d6 := newFakeDevice(t, ssdp.GroupIPv6, "uuid:00000000-0000-0000-0000-000000000006", "Fake Six")

	n, err := a.Search(ssdp.SearchAll, 1)
	if err != nil || n != 2 {
		t.Fatalf("Search: %d sent, %v", n, err)
	}
	// Added (by the answers), then Updated with the description, for
	// each; the two devices' changes may interleave.
	added, got := map[string]ssdp.Device{}, map[string]ssdp.Device{}
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case c := <-changes:
			switch {
			case c.Kind == ssdp.Added && c.Why == "search":
				added[c.Device.UUID] = c.Device
			case c.Kind == ssdp.Updated && c.Why == "description":
				got[c.Device.UUID] = c.Device
			default:
				t.Errorf("change %+v", c)
			}
		case <-timeout:
			t.Fatalf("added %v, described %v after 10 s", added, got)
		}
	}
	for _, d := range []*fakeDevice{d4, d6} {
		if added[d.uuid].Location != d.loc {
			t.Errorf("added %+v", added[d.uuid])
		}
	}
	for _, d := range []*fakeDevice{d4, d6} {
		dev := got[d.uuid]
		if dev.Description == nil || dev.DescriptionError != "" || dev.Description.UDN != d.uuid ||
			!slices.Equal(dev.Description.Services, []string{"urn:schemas-upnp-org:service:ContentDirectory:1"}) {
			t.Errorf("described %+v (%v)", dev, dev.Description)
		}
	}
	if got[d4.uuid].Description.FriendlyName != "Fake Four" || got[d6.uuid].Description.FriendlyName != "Fake Six" {
		t.Errorf("friendly names %+v %+v", got[d4.uuid].Description, got[d6.uuid].Description)
	}
	st := waitStats(t, a, "every answer", func(st ssdp.Stats) bool { return st.Answers == 6 && st.USNs == 6 })
	if st.AnswersOnSharedPort != 0 || st.Malformed != 0 || st.Fetches != 2 || st.Devices != 2 {
		t.Errorf("stats %+v", st)
	}
	if d4.answered.Load() != 3 || d6.answered.Load() != 3 {
		t.Errorf("answered %d, %d", d4.answered.Load(), d6.answered.Load())
	}

	d6.send(t, ssdp.Byebye)
	waitChange(t, changes, ssdp.Removed, "byebye", d6.uuid, 10*time.Second)
	d4.send(t, ssdp.Alive) // a refresh: no change
	waitStats(t, a, "the notifies", func(st ssdp.Stats) bool { return st.Notifies == 6 })
	if ds := a.Devices(); len(ds) != 1 || ds[0].UUID != d4.uuid || len(ds[0].USNs) != 3 {
		t.Errorf("devices %+v", ds)
	}
}
