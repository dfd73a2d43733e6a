package mdns

import (
	"errors"
	"fmt"
)

// Check verifies the table's invariants: every record is in its map, the
// heap and one eviction list, the limits hold, and what was last reported
// is the set of services. Tests call it after Update and Expire.
func (t *Table) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	n := len(t.ptr) + len(t.srv) + len(t.txt)
	for host, set := range t.addrs {
		if len(set) == 0 || len(set) > t.cfg.MaxAddrsPerHost {
			bad("host %q has %d addresses (cap %d)", host, len(set), t.cfg.MaxAddrsPerHost)
		}
		n += len(set)
	}
	if n != len(t.heap) {
		bad("%d records in the maps, %d in the heap", n, len(t.heap))
	}
	if len(t.heap) > t.cfg.MaxRecords || len(t.ptr) > t.cfg.MaxServices {
		bad("%d records, %d PTRs: over the caps %d, %d", len(t.heap), len(t.ptr), t.cfg.MaxRecords, t.cfg.MaxServices)
	}
	for i, r := range t.heap {
		if r.at != i {
			bad("heap[%d] says it is at %d", i, r.at)
		}
		if i > 0 && t.less(i, (i-1)/2) {
			bad("heap order broken at %d", i)
		}
		if r.expires.After(r.received.Add(t.cfg.MaxTTL)) {
			bad("%q expires %v after it was received", r.name, r.expires.Sub(r.received))
		}
	}
	inList := 0
	for _, l := range []*lru{&t.ptrs, &t.reached, &t.orphans} {
		for r := l.head; r != nil; r = r.next {
			inList++
			switch {
			case r.list != l:
				bad("%q on the wrong list", r.name)
			case (l == &t.ptrs) != (r.kind == kindPTR):
				bad("%q (kind %d) on the wrong list", r.name, r.kind)
			case l == &t.orphans && r.check.IsZero(), l != &t.orphans && !r.check.IsZero():
				bad("%q: orphan check %v on the wrong list", r.name, r.check)
			}
		}
	}
	if inList != len(t.heap) {
		bad("%d records on the lists, %d in the heap", inList, len(t.heap))
	}
	ptrs := 0
	for inst, ps := range t.inst {
		if len(ps) == 0 {
			bad("instance %q with no PTR", inst)
		}
		ptrs += len(ps)
		if _, ok := t.last[inst]; !ok {
			bad("instance %q not reported", inst)
		}
	}
	if ptrs != len(t.ptr) || len(t.last) != len(t.inst) {
		bad("%d PTRs by instance, %d by key; %d reported, %d instances", ptrs, len(t.ptr), len(t.last), len(t.inst))
	}
	links := 0
	for host, hs := range t.hosts {
		for inst := range hs {
			if r := t.srv[inst]; r == nil || r.hostKey != host {
				bad("host %q lists %q, whose SRV does not name it", host, inst)
			}
		}
		links += len(hs)
	}
	if links != len(t.srv) {
		bad("%d host links, %d SRV records", links, len(t.srv))
	}
	if len(t.dirty) != 0 {
		bad("%d instances left dirty", len(t.dirty))
	}
	return errors.Join(errs...)
}
