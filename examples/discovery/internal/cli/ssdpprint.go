package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sharecast/sharecast/examples/discovery/ssdp"
)

// ssdpChange prints an SSDP change.
func (p *printer) ssdpChange(c ssdp.Change) {
	p.event(c.At, c.Kind.String(), c, func() string { return describeDevice(&c.Device) + " (" + c.Why + ")" })
}

func (p *printer) ssdpTable(ds []ssdp.Device) {
	if p.json {
		b, _ := json.Marshal(map[string]any{"table": ds})
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	fmt.Fprintf(p.w, "%d devices:\n", len(ds))
	for i := range ds {
		fmt.Fprintf(p.w, "  %s\n", describeDevice(&ds[i]))
	}
}

// What one line shows of a device at most: the rest is counted.
const (
	maxServices = 8
	maxString   = 100 // bytes of a name, model, location or service
)

// quote quotes s, which the network chose, cut to maxString bytes.
func quote(s string) string {
	if len(s) > maxString {
		s = s[:maxString] + "..."
	}
	return strconv.Quote(s)
}

// bare is quote without the quotes where s needs no escaping.
func bare(s string) string {
	q := quote(s)
	if q[1:len(q)-1] == s {
		return s
	}
	return q
}

func describeDevice(d *ssdp.Device) string {
	var b strings.Builder
	b.WriteString(bare(d.UUID))
	if x := d.Description; x != nil {
		fmt.Fprintf(&b, " %s, %s %s %s", quote(x.FriendlyName), quote(x.Manufacturer), quote(x.ModelName), quote(x.ModelNumber))
	}
	fmt.Fprintf(&b, " at %s from %s", bare(d.Location), d.Source)
	if d.Server != "" {
		fmt.Fprintf(&b, ", server %s", quote(d.Server))
	}
	fmt.Fprintf(&b, "; %d USNs", len(d.USNs))
	if x := d.Description; x != nil && len(x.Services) > 0 {
		svc := make([]string, 0, min(len(x.Services), maxServices))
		for _, s := range x.Services[:cap(svc)] {
			svc = append(svc, bare(strings.TrimPrefix(s, "urn:schemas-upnp-org:service:")))
		}
		fmt.Fprintf(&b, "; services %s", strings.Join(svc, " "))
		if n := len(x.Services) - maxServices; n > 0 {
			fmt.Fprintf(&b, " (+%d more)", n)
		}
	}
	if d.DescriptionError != "" {
		fmt.Fprintf(&b, "; no description: %s", quote(d.DescriptionError))
	}
	return b.String()
}

// printSSDPStats prints the SSDP agent's counters.
func printSSDPStats(w io.Writer, st ssdp.Stats) {
	fmt.Fprintf(w, "discovery: %d datagrams on port 1900 (%d NOTIFY, %d M-SEARCH from others, %d answers that reached port 1900), "+
		"%d answers on the search sockets; %d malformed (%d no line end, %d bad start line, %d bad header, %d too many headers, %d too long), "+
		"%d truncated, %d kernel drops\n",
		st.Multicast, st.Notifies, st.Searches, st.AnswersOnSharedPort, st.Answers,
		st.Malformed, st.NoLineEnd, st.BadStartLine, st.BadHeader, st.TooManyHeaders, st.TooLong, st.Truncated, st.KernelDrops)
	fmt.Fprintf(w, "discovery: table: %d devices, %d USNs; %d devices evicted, %d USNs evicted, %d max-ages clamped; "+
		"ignored: %d without uuid, %d without location, %d bad NTS, %d foreign byebyes or updates; "+
		"descriptions: %d fetched, %d failed (%d locations refused, %d too large, %d timed out), %d dropped at the full queue\n",
		st.Devices, st.USNs, st.DevicesEvicted, st.USNsEvicted, st.Clamped,
		st.NoUUID, st.NoLocation, st.BadNTS, st.ForeignByebye,
		st.Fetches, st.FetchErrors, st.LocationsRefused, st.TooLarge, st.FetchTimeouts, st.FetchesDropped)
}
