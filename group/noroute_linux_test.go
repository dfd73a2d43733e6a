package group_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/internal/testbed"
	"github.com/sharecast/sharecast/mcast"
)

// A join that names no interface on a host with no route for the group
// (no 224.0.0.0/4, no ff00::/8) says what to do: name an interface or add
// a route, rather than only "setsockopt: no such device".
func TestJoinNoRoute(t *testing.T) {
	h := testbed.NewHost(t, "noroute")
	for _, tc := range []struct{ network, spec, route string }{
		{"udp4", "239.9.9.9:5000", "ip route add 224.0.0.0/4"},
		{"udp6", "[ff15::9]:5000", "ip -6 route add multicast ff00::/8"},
	} {
		err := h.Do(func() error {
			c, err := mcast.Listen(context.Background(), tc.network, ":5000", nil)
			if err != nil {
				return err
			}
			defer c.Close()
			set, err := group.New(c, &group.Config{NoWatch: true})
			if err != nil {
				return err
			}
			defer set.Close()
			return set.Join(group.MustParseSpec(tc.spec))
		})
		if !errors.Is(err, group.ErrNoInterface) || !strings.Contains(err.Error(), tc.route) || !strings.Contains(err.Error(), tc.spec+"%IFACE") {
			t.Errorf("join %s with no route: %v; want ErrNoInterface, saying to name an interface or add a route (%s)", tc.spec, err, tc.route)
		}
	}
}
