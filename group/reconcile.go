package group

import (
	"cmp"
	"maps"
	"net"
	"net/netip"
	"slices"
)

// mark is what the watcher saw happen to one interface since it last
// acted.
type mark struct {
	up      bool // it came up after being down, or appeared
	deleted bool // it was deleted (and may since be back, with this index)
	addr    bool // it was given an address of the socket's family
	resync  bool // events may have been lost: re-join whatever is on it
}

func (m mark) back() bool { return m.up || m.addr || m.resync }

// reconcile brings the memberships in line with ifs, the interfaces as
// they are now, given what marks say happened since the last call:
//
//  1. memberships on an interface that is gone (or was deleted meanwhile,
//     or no longer has the name its spec names) are left and counted as
//     lost; the socket's stale entry is cleared by the leave;
//  2. specs that follow a name, an index or "*" are joined on the usable
//     interfaces they select and are not on (an interface created again
//     gets a new index, and a new membership);
//  3. memberships on an interface that came back up or got an address
//     back are joined again (Linux keeps memberships across down and up
//     and across address changes, so this mostly finds them in place; a
//     membership that the interface no longer holds is left and joined
//     afresh).
func (s *Set) reconcile(ifs []net.Interface, marks map[int]mark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	byIndex := make(map[int]*net.Interface, len(ifs))
	for i := range ifs {
		byIndex[ifs[i].Index] = &ifs[i]
	}
	reqs := s.sortedRequests()

	// 1. Gone.
	for _, r := range reqs {
		for _, idx := range slices.Sorted(maps.Keys(r.on)) {
			if idx == 0 {
				continue
			}
			ifi := byIndex[idx]
			switch {
			case ifi == nil || marks[idx].deleted:
				name := r.on[idx]
				mk := memberKey{r.key.group, r.key.source, idx}
				err := s.release(r, idx)
				if _, still := s.members[mk]; !still {
					s.lost.Add(1)
				}
				if len(r.lost) < maxLost {
					if r.lost == nil {
						r.lost = make(map[string]struct{})
					}
					r.lost[name] = struct{}{}
				}
				// The leave clears the socket's entry for the gone
				// interface; the kernel reports no error for it, and
				// nothing could be done about one.
				s.log.Info().Str("spec", r.spec.String()).Str("interface", name).Int("ifindex", idx).
					AnErr("leave_error", err).Msg("interface gone; membership dropped until it comes back")
			case r.follow.kind == selName && ifi.Name != r.follow.name:
				name := r.on[idx]
				err := s.release(r, idx)
				s.log.Info().Str("spec", r.spec.String()).Str("interface", name).Str("renamed", ifi.Name).
					Int("ifindex", idx).AnErr("leave_error", err).Msg("interface renamed; membership left")
			case ifi.Name != r.on[idx]:
				r.on[idx] = ifi.Name
				if m := s.members[memberKey{r.key.group, r.key.source, idx}]; m != nil {
					m.ifi.Name = ifi.Name
				}
			}
		}
	}

	// 2. Joins on interfaces that specs select and are not on.
	fresh := make(map[memberKey]bool)
	for _, r := range reqs {
		for _, ifi := range selectNow(r.follow, ifs) {
			if _, ok := r.on[ifi.Index]; ok {
				continue
			}
			mk := memberKey{r.key.group, r.key.source, ifi.Index}
			_, shared := s.members[mk]
			if err := s.acquire(r, ifi); err != nil {
				s.failures.Add(1)
				s.log.Error().Err(err).Str("spec", r.spec.String()).Str("interface", ifi.Name).
					Int("ifindex", ifi.Index).Msg("join on interface failed")
				continue
			}
			if !shared {
				fresh[mk] = true
			}
			_, returned := r.lost[ifi.Name]
			delete(r.lost, ifi.Name)
			if r.follow.kind == selAll && !returned {
				s.added.Add(1)
				s.log.Info().Str("spec", r.spec.String()).Str("interface", ifi.Name).Int("ifindex", ifi.Index).
					Msg("joined on new interface")
			} else {
				s.rejoins.Add(1)
				s.log.Info().Str("spec", r.spec.String()).Str("interface", ifi.Name).Int("ifindex", ifi.Index).
					Bool("kept", false).Msg("re-joined on interface that came back")
			}
		}
	}

	// 3. Re-joins on interfaces that came back.
	anyBack := false
	for _, m := range marks {
		anyBack = anyBack || m.back()
	}
	keys := slices.SortedFunc(maps.Keys(s.members), compareMemberKey)
	for _, mk := range keys {
		if fresh[mk] {
			continue
		}
		if mk.index == 0 {
			if anyBack {
				s.rejoin(mk, s.members[mk])
			}
			continue
		}
		ifi := byIndex[mk.index]
		if !marks[mk.index].back() || ifi == nil || ifi.Flags&net.FlagUp == 0 {
			continue
		}
		s.rejoin(mk, s.members[mk])
	}
}

// selectNow returns the usable interfaces that a followed selector selects
// among ifs, without errors: none is fine for the watcher.
func selectNow(sel selector, ifs []net.Interface) []*net.Interface {
	var out []*net.Interface
	for i := range ifs {
		ifi := &ifs[i]
		if !usable(ifi) {
			continue
		}
		switch {
		case sel.kind == selAll,
			sel.kind == selName && ifi.Name == sel.name,
			sel.kind == selIndex && ifi.Index == sel.index:
			out = append(out, ifi)
		}
	}
	return out
}

// rejoin joins m again. When the kernel took the join for one it still has
// but the interface does not list the group, the socket's entry is stale
// (the interface lost its multicast state under it): leave and join again.
// s.mu is held.
func (s *Set) rejoin(mk memberKey, m *member) {
	ifi := m.iface()
	kept := true
	err := s.be.rejoin(ifi, mk.group, mk.source)
	if err == nil && mk.index != 0 {
		if held, known := s.be.held(mk.index, mk.group); known && !held {
			kept = false
			_ = s.be.leave(ifi, mk.group, mk.source) // clears the stale entry; the join below says whether it worked
			err = s.be.join(ifi, mk.group, mk.source)
			for _, src := range slices.SortedFunc(maps.Keys(m.blocked), netip.Addr.Compare) {
				if err == nil {
					err = s.be.block(ifi, mk.group, src, true)
				}
			}
		}
	}
	ev := s.log.Info()
	if err != nil {
		s.failures.Add(1)
		ev = s.log.Error().Err(err)
	} else {
		s.rejoins.Add(1)
	}
	ev.Str("group", mk.group.String()).Str("interface", m.ifi.Name).Int("ifindex", mk.index).Bool("kept", kept)
	if mk.source.IsValid() {
		ev.Str("source", mk.source.String())
	}
	if err != nil {
		ev.Msg("re-join failed")
	} else {
		ev.Msg("re-joined after interface came back")
	}
}

func compareMemberKey(a, b memberKey) int {
	return cmp.Or(a.group.Compare(b.group), a.source.Compare(b.source), cmp.Compare(a.index, b.index))
}
