package natsrelay

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// The headers that a [Publisher] puts on each message, and that a
// [Source] reads back. Values are text: addresses as netip prints them,
// numbers in decimal, the time in nanoseconds since the Unix epoch.
const (
	// HeaderRelay names the relay (PublisherConfig.RelayID): the scope of
	// HeaderSeq's numbering.
	HeaderRelay = "Sharecast-Relay"
	// HeaderSeq is the relay's sequence number of the datagram, from 1,
	// one a datagram received, published or not: a datagram that the
	// relay could not publish leaves a gap.
	HeaderSeq = "Sharecast-Seq"
	// HeaderSource is the datagram's sender, address:port.
	HeaderSource = "Sharecast-Source"
	// HeaderGroup is the group the datagram was sent to.
	HeaderGroup = "Sharecast-Group"
	// HeaderPort is the destination port.
	HeaderPort = "Sharecast-Port"
	// HeaderInterface is the name of the relay host's interface that the
	// datagram arrived on (absent if unknown).
	HeaderInterface = "Sharecast-Interface"
	// HeaderIfIndex is that interface's index on the relay host.
	HeaderIfIndex = "Sharecast-Ifindex"
	// HeaderTTL is the TTL (hop limit) the datagram arrived with, absent
	// where the OS does not report it.
	HeaderTTL = "Sharecast-Ttl"
	// HeaderTime is the kernel's receive time on the relay host, in
	// nanoseconds since the Unix epoch.
	HeaderTime = "Sharecast-Time"
)

// Meta is the metadata that a relayed message carries in its headers.
type Meta struct {
	Relay     string
	Seq       uint64
	Source    netip.AddrPort
	Group     netip.Addr
	Port      uint16
	Interface string
	IfIndex   int
	TTL       int // -1 if absent
	Time      time.Time
}

// ParseMeta reads the metadata of a relayed message from its headers. It
// returns false if the relay or sequence header is missing or malformed;
// the other fields are best effort (zero if absent or malformed).
func ParseMeta(h nats.Header) (Meta, bool) {
	m := Meta{TTL: -1}
	m.Relay = first(h, HeaderRelay)
	seq, err := strconv.ParseUint(first(h, HeaderSeq), 10, 64)
	if m.Relay == "" || err != nil || seq == 0 {
		return m, false
	}
	m.Seq = seq
	m.Source, _ = netip.ParseAddrPort(first(h, HeaderSource))
	m.Group, _ = netip.ParseAddr(first(h, HeaderGroup))
	if p, err := strconv.ParseUint(first(h, HeaderPort), 10, 16); err == nil {
		m.Port = uint16(p)
	}
	m.Interface = first(h, HeaderInterface)
	if i, err := strconv.ParseInt(first(h, HeaderIfIndex), 10, 32); err == nil && i >= 0 {
		m.IfIndex = int(i)
	}
	if v, err := strconv.ParseInt(first(h, HeaderTTL), 10, 16); err == nil && v >= 0 && v <= 255 {
		m.TTL = int(v)
	}
	if ns, err := strconv.ParseInt(first(h, HeaderTime), 10, 64); err == nil && ns > 0 {
		m.Time = time.Unix(0, ns)
	}
	return m, true
}

// first returns the first value of key, reading the map directly: the
// headers are written in canonical form by the Publisher, and this saves
// the canonicalisation that Header.Get does.
func first(h nats.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return h.Get(key)
}

// header builds the headers of a message for m.
func (m *Meta) header() nats.Header {
	h := make(nats.Header, 10)
	h[HeaderRelay] = []string{m.Relay}
	h[HeaderSeq] = []string{strconv.FormatUint(m.Seq, 10)}
	h[HeaderSource] = []string{m.Source.String()}
	h[HeaderGroup] = []string{m.Group.String()}
	h[HeaderPort] = []string{strconv.FormatUint(uint64(m.Port), 10)}
	if m.Interface != "" {
		h[HeaderInterface] = []string{m.Interface}
	}
	h[HeaderIfIndex] = []string{strconv.Itoa(m.IfIndex)}
	if m.TTL >= 0 {
		h[HeaderTTL] = []string{strconv.Itoa(m.TTL)}
	}
	if !m.Time.IsZero() {
		h[HeaderTime] = []string{strconv.FormatInt(m.Time.UnixNano(), 10)}
	}
	h[nats.MsgIdHdr] = []string{m.Relay + "-" + strconv.FormatUint(m.Seq, 10)}
	return h
}
