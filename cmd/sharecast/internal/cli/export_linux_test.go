package cli

import "github.com/sharecast/sharecast/group"

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
