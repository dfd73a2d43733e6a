package hub

import (
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
)

// Defaults of Config.
const (
	// DefaultName is the hub's name when Config.Name is empty.
	DefaultName = "default"
	// DefaultSlots is the ring's length, in datagrams, per hub socket.
	DefaultSlots = 16384
	// DefaultMaxDatagram is the longest datagram a ring slot holds: a
	// slot is then 2,048 bytes, and a ring of DefaultSlots 32 MiB.
	DefaultMaxDatagram = 2048 - slotHeaderLen
	// DefaultMaxConsumers is how many consumers may attach at once.
	DefaultMaxConsumers = 64
	// DefaultWakeInterval is the least time between two wake-ups of a
	// ring's sleeping consumers (see Config.WakeInterval).
	DefaultWakeInterval = 100 * time.Microsecond

	slotHeaderLen = 64
)

// Config configures a hub. The zero value, as a nil *Config, means the
// defaults that each field documents.
type Config struct {
	// Name is what consumers attach by; empty means DefaultName. It is at
	// most 64 bytes of letters, digits and ".-_".
	Name string

	// Slots is the ring's length in datagrams, per hub socket (family and
	// port): how far a consumer may fall behind before it loses
	// datagrams (overrun). It is rounded up to a power of two; 0 means
	// DefaultSlots.
	Slots int

	// MaxDatagram is the longest datagram the hub takes, in bytes; 0
	// means DefaultMaxDatagram. Longer ones are dropped by the hub's
	// socket and counted there (mcast.Stats.Truncated).
	MaxDatagram int

	// MaxConsumers caps the consumers attached at once; 0 means
	// DefaultMaxConsumers.
	MaxConsumers int

	// WakeInterval is the least time between two wake-ups of a ring's
	// sleeping consumers; 0 means DefaultWakeInterval, a negative value
	// wakes them at every write that finds one asleep. The first datagram
	// after a quiet spell wakes them at once; while datagrams keep coming,
	// the wake-ups (a system call of the hub's, and a switch to every
	// sleeping consumer) come at most once an interval, and each consumer
	// reads what came meanwhile in one go. On a host with fewer CPUs than
	// consumers this is what keeps them from taking the hub's CPU time
	// (bench/RESULTS.md: 16 consumers on 2 CPUs); the cost is up to one
	// interval of delay while they sleep under load.
	WakeInterval time.Duration

	// Group names a group (by name or number) whose members may attach
	// besides the hub's own user (and root). Empty means the hub's user
	// and root only: the equivalent of a 0600 file.
	Group string

	// Listen configures the hub's sockets, as for dispatch.Listen (nil
	// means the defaults): sharing mode, receive buffer, interfaces. Its
	// Handler, BufferSize and Logger fields are the hub's to set.
	Listen *dispatch.ListenConfig

	// Logger receives the hub's log events (consumers attaching and
	// leaving, refusals). The zero value logs nothing.
	Logger zerolog.Logger
}

// Stats are a hub's counters.
type Stats struct {
	// Name is the hub's name, Addr its attach point.
	Name string `json:"name"`
	Addr string `json:"addr"`
	// Rings has one entry per hub socket.
	Rings []RingStats `json:"rings"`
	// Consumers are the consumers attached now.
	Consumers []ConsumerStats `json:"consumers"`
	// Attached counts consumers that ever attached, Detached those that
	// left (closed, exited or killed), Refused the attempts refused (by
	// credentials or for lack of a slot).
	Attached uint64 `json:"attached"`
	Detached uint64 `json:"detached"`
	Refused  uint64 `json:"refused"`
	// Server is the hub's receiver: its sockets' kernel drops, truncated
	// and filtered datagrams, as any sharecast receiver counts them.
	Server dispatch.Stats `json:"server"`
}

// RingStats are the counters of one ring (one hub socket).
type RingStats struct {
	// Socket names the hub socket ("udp4:5000"), Local its address.
	Socket string         `json:"socket"`
	Local  netip.AddrPort `json:"local"`
	// Written counts the datagrams written into the ring: those the hub
	// accepted.
	Written uint64 `json:"written"`
	// Slots is the ring's length, MaxDatagram the longest datagram it
	// holds.
	Slots       int `json:"slots"`
	MaxDatagram int `json:"max_datagram"`
	// Wakes counts the futex wake-ups the writer made (only when a
	// consumer had said that it sleeps).
	Wakes uint64 `json:"wakes"`
}

// ConsumerStats are one attached consumer's counters, per ring, as the
// consumer last published them (once per batch it reads).
type ConsumerStats struct {
	// Slot is the consumer's slot in the hub, PID and UID its process's
	// (from SO_PEERCRED).
	Slot  int            `json:"slot"`
	PID   int            `json:"pid"`
	UID   int            `json:"uid"`
	Since time.Time      `json:"since"`
	Rings []ConsumerRing `json:"rings"`
}

// ConsumerRing is one consumer's position in one ring. Written - Start
// (the datagrams the hub accepted while it was attached) = Delivered +
// Overrun + Truncated + Lag, exactly, when the consumer's counters are
// read between its batches.
type ConsumerRing struct {
	Socket string `json:"socket"`
	// Start is the ring's head when it attached, Next the number of the
	// next datagram it will read.
	Start uint64 `json:"start"`
	Next  uint64 `json:"next"`
	// Lag is how many datagrams it has still to read.
	Lag uint64 `json:"lag"`
	// Delivered counts the datagrams it read, Bytes their bytes,
	// Overrun those the hub overwrote before it read them, Truncated
	// those longer than its buffers.
	Delivered uint64 `json:"delivered"`
	Bytes     uint64 `json:"bytes"`
	Overrun   uint64 `json:"overrun"`
	Truncated uint64 `json:"truncated"`
}

// config is Config with the defaults filled in.
func (c *Config) withDefaults() (Config, error) {
	var o Config
	if c != nil {
		o = *c
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := checkName(o.Name); err != nil {
		return o, err
	}
	if o.Slots < 0 || o.MaxDatagram < 0 || o.MaxConsumers < 0 {
		return o, invalid("slots %d, max datagram %d, max consumers %d", o.Slots, o.MaxDatagram, o.MaxConsumers)
	}
	if o.Slots == 0 {
		o.Slots = DefaultSlots
	}
	o.Slots = max(o.Slots, 16)
	for o.Slots&(o.Slots-1) != 0 {
		o.Slots += o.Slots & -o.Slots
	}
	if o.MaxDatagram == 0 {
		o.MaxDatagram = DefaultMaxDatagram
	}
	if o.MaxDatagram > 65535 {
		return o, invalid("max datagram %d bytes, over 65535", o.MaxDatagram)
	}
	if o.Slots > 1<<24 {
		return o, invalid("%d slots, over %d", o.Slots, 1<<24)
	}
	if o.MaxConsumers == 0 {
		o.MaxConsumers = DefaultMaxConsumers
	}
	if o.WakeInterval == 0 {
		o.WakeInterval = DefaultWakeInterval
	}
	if o.WakeInterval > time.Second {
		return o, invalid("wake interval %v, over 1s", o.WakeInterval)
	}
	if o.MaxConsumers > 4096 {
		return o, invalid("max consumers %d, over 4096", o.MaxConsumers)
	}
	return o, nil
}

// checkName checks a hub name.
func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return invalid("name %q: 1 to 64 bytes", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return invalid("name %q: only letters, digits and .-_", name)
		}
	}
	return nil
}

// Addr returns the attach point of the hub named name: a unix socket in the
// abstract namespace ("@" stands for its leading NUL byte), which belongs
// to the network namespace, so that a hub is found by the processes of its
// own network namespace only. An empty name means DefaultName.
func Addr(name string) string {
	if name == "" {
		name = DefaultName
	}
	return "@sharecast-hub/" + name
}
