package ssdp

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ErrInvalidConfig reports a bad configuration.
var ErrInvalidConfig = errors.New("ssdp: invalid configuration")

// TableConfig holds the limits of a [Table]. The zero value means the
// defaults that each field documents.
type TableConfig struct {
	// MaxDevices is the most devices (UUIDs) the table keeps: 256. A new
	// device beyond it evicts the one heard from least recently.
	MaxDevices int
	// MaxUSNs is the most USNs (device and service types) one device
	// keeps: 64. A new one beyond it evicts the device's USN heard from
	// least recently.
	MaxUSNs int
	// MaxAge clamps CACHE-CONTROL max-age: 24 hours.
	MaxAge time.Duration
	// DefaultMaxAge is the lifetime of an announcement without a
	// max-age: 1800 s, the least UDA 2.0 allows.
	DefaultMaxAge time.Duration
}

func (c *TableConfig) withDefaults() (TableConfig, error) {
	d := *c
	if d.MaxDevices < 0 || d.MaxUSNs < 0 || d.MaxAge < 0 || d.DefaultMaxAge < 0 {
		return d, fmt.Errorf("%w: negative limit in %+v", ErrInvalidConfig, *c)
	}
	if d.MaxDevices == 0 {
		d.MaxDevices = 256
	}
	if d.MaxUSNs == 0 {
		d.MaxUSNs = 64
	}
	if d.MaxAge == 0 {
		d.MaxAge = 24 * time.Hour
	}
	if d.DefaultMaxAge == 0 {
		d.DefaultMaxAge = 1800 * time.Second
	}
	return d, nil
}

// USN is one unique service name that a device announced: the device
// itself ("uuid:X"), its root ("uuid:X::upnp:rootdevice"), a device or
// a service type ("uuid:X::urn:...").
type USN struct {
	USN     string    `json:"usn"`
	Type    string    `json:"type"` // the NT or ST
	Expires time.Time `json:"expires"`
}

// Device is what the table knows of one UPnP device (one UUID).
type Device struct {
	UUID     string `json:"uuid"`
	Location string `json:"location"`
	Server   string `json:"server,omitempty"`
	// Source is the address of the message that last set Location.
	Source netip.Addr `json:"source"`
	USNs   []USN      `json:"usns"`
	// Expires is when the last of its USNs expires.
	Expires time.Time `json:"expires"`
	// Description is what LOCATION said, once fetched; DescriptionError
	// says why it could not be.
	Description      *Description `json:"description,omitempty"`
	DescriptionError string       `json:"description_error,omitempty"`
}

// ChangeKind says what happened to a device.
type ChangeKind uint8

// The kinds of change.
const (
	Added ChangeKind = iota + 1
	Updated
	Removed
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return "unknown"
}

// MarshalText writes the kind's name.
func (k ChangeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Change is one change to the table.
type Change struct {
	Kind ChangeKind `json:"event"`
	At   time.Time  `json:"at"`
	// Why: "alive", "search" (a search response), "location" (it
	// moved), "description" (fetched, or failed), "byebye", "expired",
	// "evicted" (the table was full).
	Why    string `json:"why"`
	Device Device `json:"device"`
}

// TableStats are a Table's sizes and counters.
type TableStats struct {
	Devices, USNs int
	// DevicesEvicted and USNsEvicted count what the caps evicted;
	// Clamped the max-ages cut to TableConfig.MaxAge.
	DevicesEvicted, USNsEvicted, Clamped uint64
	// NoUUID counts announcements whose USN does not start with
	// "uuid:", NoLocation alive ones without LOCATION, BadNTS NOTIFYs
	// whose NTS is none of alive, byebye and update: all ignored.
	NoUUID, NoLocation, BadNTS uint64
	// Byebyes counts the byebyes that removed a USN; UnknownByebye those
	// for a USN the table does not hold; ForeignByebye those (and
	// ssdp:update messages) from another address than the USN's
	// announcement, ignored.
	Byebyes, UnknownByebye, ForeignByebye uint64
}

type entry struct {
	typ     string
	expires time.Time
	seen    time.Time
	src     netip.Addr
}

type device struct {
	Device
	usns map[string]*entry
	seen time.Time
}

// Table is the table of devices and their USNs, fed with parsed
// messages. It is not safe for concurrent use: the [Agent] guards its
// own.
type Table struct {
	cfg   TableConfig
	devs  map[string]*device
	stats TableStats
}

// NewTable returns an empty table; a nil cfg means the defaults.
func NewTable(cfg *TableConfig) (*Table, error) {
	if cfg == nil {
		cfg = &TableConfig{}
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Table{cfg: c, devs: map[string]*device{}}, nil
}

// Fetch asks for a device's description: what Update returns when a
// device is new or its LOCATION changed.
type Fetch struct {
	UUID, Location string
	Source         netip.Addr
}

// Update applies m, a NOTIFY or a response to a search, received from
// src at now. It appends the changes to cs and returns them, and a Fetch
// (ok true) when the device's description should be fetched. Searches
// and other messages change nothing.
func (t *Table) Update(cs []Change, m *Message, src netip.Addr, now time.Time) (_ []Change, f Fetch, ok bool) {
	var why string
	switch {
	case m.Kind == Response && m.Status == 200:
		why = "search"
	case m.Kind == Notify:
		switch nts := m.NTS(); {
		case bytes.Equal(nts, []byte(Alive)):
			why = "alive"
		case bytes.Equal(nts, []byte(Byebye)):
			return t.byebye(cs, m, src, now), f, false
		case bytes.Equal(nts, []byte(Update)):
			return t.update(cs, m, src, now)
		default:
			t.stats.BadNTS++
			return cs, f, false
		}
	default:
		return cs, f, false
	}
	usn := m.USN()
	uuid := UUID(usn)
	if uuid == nil {
		t.stats.NoUUID++
		return cs, f, false
	}
	loc := m.Location()
	if len(loc) == 0 {
		t.stats.NoLocation++
		return cs, f, false
	}
	age, has := m.MaxAge()
	if !has {
		age = t.cfg.DefaultMaxAge
	}
	if age > t.cfg.MaxAge {
		age = t.cfg.MaxAge
		t.stats.Clamped++
	}
	expires := now.Add(age)

	d := t.devs[string(uuid)]
	kind := ChangeKind(0)
	if d == nil {
		if len(t.devs) >= t.cfg.MaxDevices {
			cs = t.evictDevice(cs, now)
		}
		d = &device{Device: Device{UUID: string(uuid)}, usns: map[string]*entry{}}
		t.devs[d.UUID] = d
		kind = Added
	}
	d.seen = now
	if string(loc) != d.Location {
		d.Location, d.Source, d.Server = string(loc), src, string(m.Get("SERVER"))
		d.Description, d.DescriptionError = nil, ""
		f, ok = Fetch{UUID: d.UUID, Location: d.Location, Source: src}, true
		if kind == 0 {
			kind, why = Updated, "location"
		}
	}
	e := d.usns[string(usn)]
	if e == nil {
		if len(d.usns) >= t.cfg.MaxUSNs {
			t.evictUSN(d)
		}
		e = &entry{typ: string(m.Type())}
		d.usns[string(usn)] = e
		t.stats.USNs++
	}
	e.expires, e.seen, e.src = expires, now, src
	if kind != 0 {
		cs = append(cs, Change{Kind: kind, At: now, Why: why, Device: d.snapshot()})
	}
	return cs, f, ok
}

func (t *Table) byebye(cs []Change, m *Message, src netip.Addr, now time.Time) []Change {
	usn := m.USN()
	d := t.devs[string(UUID(usn))]
	if d == nil || d.usns[string(usn)] == nil {
		t.stats.UnknownByebye++
		return cs
	}
	e := d.usns[string(usn)]
	if e.src != src {
		t.stats.ForeignByebye++
		return cs
	}
	t.stats.Byebyes++
	if len(d.usns) == 1 || e.typ == "upnp:rootdevice" {
		return t.remove(cs, d, "byebye", now) // the change shows what went
	}
	delete(d.usns, string(usn))
	t.stats.USNs--
	return cs
}

// update applies an ssdp:update: a device whose LOCATION (or boot id)
// changed; it must come from where the USN was announced.
func (t *Table) update(cs []Change, m *Message, src netip.Addr, now time.Time) ([]Change, Fetch, bool) {
	usn := m.USN()
	d := t.devs[string(UUID(usn))]
	if d == nil || d.usns[string(usn)] == nil {
		return cs, Fetch{}, false
	}
	if d.usns[string(usn)].src != src {
		t.stats.ForeignByebye++
		return cs, Fetch{}, false
	}
	loc := m.Location()
	if len(loc) == 0 || string(loc) == d.Location {
		return cs, Fetch{}, false
	}
	d.Location, d.Source, d.Description, d.DescriptionError = string(loc), src, nil, ""
	cs = append(cs, Change{Kind: Updated, At: now, Why: "location", Device: d.snapshot()})
	return cs, Fetch{UUID: d.UUID, Location: d.Location, Source: src}, true
}

func (t *Table) remove(cs []Change, d *device, why string, now time.Time) []Change {
	t.stats.USNs -= len(d.usns)
	delete(t.devs, d.UUID)
	return append(cs, Change{Kind: Removed, At: now, Why: why, Device: d.snapshot()})
}

// evictDevice removes the device heard from least recently.
func (t *Table) evictDevice(cs []Change, now time.Time) []Change {
	var old *device
	for _, d := range t.devs {
		if old == nil || d.seen.Before(old.seen) {
			old = d
		}
	}
	t.stats.DevicesEvicted++
	return t.remove(cs, old, "evicted", now)
}

func (t *Table) evictUSN(d *device) {
	var oldK string
	var old *entry
	for k, e := range d.usns {
		if old == nil || e.seen.Before(old.seen) {
			oldK, old = k, e
		}
	}
	delete(d.usns, oldK)
	t.stats.USNs--
	t.stats.USNsEvicted++
}

// Describe records the result of fetching a device's description, if
// the device is still there at the same LOCATION, and returns the change.
func (t *Table) Describe(cs []Change, f Fetch, desc *Description, err error, now time.Time) []Change {
	d := t.devs[f.UUID]
	if d == nil || d.Location != f.Location {
		return cs
	}
	d.Description, d.DescriptionError = desc, ""
	if err != nil {
		d.DescriptionError = err.Error()
	}
	return append(cs, Change{Kind: Updated, At: now, Why: "description", Device: d.snapshot()})
}

// Expire removes the USNs whose max-age ran out by now, and the devices
// left without any.
func (t *Table) Expire(cs []Change, now time.Time) []Change {
	for _, d := range t.devs {
		for k, e := range d.usns {
			if !e.expires.After(now) {
				delete(d.usns, k)
				t.stats.USNs--
			}
		}
		if len(d.usns) == 0 {
			cs = t.remove(cs, d, "expired", now)
		}
	}
	return cs
}

// Devices returns the table, sorted by UUID.
func (t *Table) Devices() []Device {
	out := make([]Device, 0, len(t.devs))
	for _, d := range t.devs {
		out = append(out, d.snapshot())
	}
	slices.SortFunc(out, func(a, b Device) int { return cmp.Compare(a.UUID, b.UUID) })
	return out
}

// Stats returns the table's sizes and counters.
func (t *Table) Stats() TableStats {
	st := t.stats
	st.Devices = len(t.devs)
	return st
}

func (d *device) snapshot() Device {
	out := d.Device
	out.USNs = make([]USN, 0, len(d.usns))
	for k, e := range d.usns {
		out.USNs = append(out.USNs, USN{USN: k, Type: e.typ, Expires: e.expires})
		if e.expires.After(out.Expires) {
			out.Expires = e.expires
		}
	}
	slices.SortFunc(out.USNs, func(a, b USN) int { return cmp.Compare(a.USN, b.USN) })
	return out
}
