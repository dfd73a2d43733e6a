package cli

import (
	"net"
	"net/netip"

	"github.com/sharecast/sharecast/group"
)

// IptablesDrops returns what doctor says of each rule in save (the output
// of iptables-save, or ip6tables-save when v6) that drops or rejects UDP
// to one of specs.
func IptablesDrops(save []byte, specs []group.Spec, v6 bool) []string {
	var out []string
	for _, d := range iptablesDrops(save, specs, v6) {
		out = append(out, d.status+" "+d.subject+": "+d.seen)
	}
	return out
}

// OtherQuerier returns the IGMP querier that the bridge called name, in
// the calling thread's namespace, hears on its segment (invalid when none),
// as doctor reads it.
func OtherQuerier(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, err
	}
	br, err := bridgeOf(ifi.Index)
	if err != nil || br == nil {
		return netip.Addr{}, err
	}
	return br.otherV4, nil
}
