package cli

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
)

// groupWatch knows, for each group and port asked for, when its last
// datagram came, so that a silent group shows (stat lists it with how long
// it has been silent) and --max-silence can end a command on a dead feed.
// Its keys are the groups of the command line, fixed at the start: the
// network cannot add any.
type groupWatch struct {
	start time.Time
	order []groupKey
	last  map[groupKey]*atomic.Int64 // the last datagram's receive time, Unix ns; 0 before the first
}

func newGroupWatch(specs []string, start time.Time) *groupWatch {
	w := &groupWatch{start: start, last: map[groupKey]*atomic.Int64{}}
	for _, k := range groupKeys(specs) {
		if w.last[k] == nil {
			w.last[k] = new(atomic.Int64)
			w.order = append(w.order, k)
		}
	}
	return w
}

// groupKeys returns the group and port of each of specs (parseSpecs
// checked them; one it refused is left out).
func groupKeys(specs []string) []groupKey {
	var ks []groupKey
	for _, s := range specs {
		if sp, err := group.ParseSpec(s); err == nil {
			ks = append(ks, groupKey{sp.Group, sp.Port})
		}
	}
	return ks
}

// middleware records each datagram's arrival before h sees it.
func (w *groupWatch) middleware(h dispatch.Handler) dispatch.Handler {
	return dispatch.HandlerFunc(func(ctx context.Context, d *dispatch.Datagram) {
		if a := w.last[groupKey{d.Group, d.Port}]; a != nil {
			a.Store(d.Time.UnixNano())
		}
		h.ServeDatagram(ctx, d)
	})
}

// silentFor returns how long group k has been silent at now: since its last
// datagram, or since the start if none came.
func (w *groupWatch) silentFor(k groupKey, now time.Time) time.Duration {
	since := w.start
	if a := w.last[k]; a != nil {
		if ns := a.Load(); ns != 0 {
			since = time.Unix(0, ns)
		}
	}
	return max(now.Sub(since), 0)
}

// check returns an error naming the first group silent longer than limit.
func (w *groupWatch) check(limit time.Duration, now time.Time) error {
	for _, k := range w.order {
		if d := w.silentFor(k, now); d > limit {
			what := "no datagram since the start"
			if w.last[k].Load() != 0 {
				what = "no datagram for " + d.Round(time.Millisecond).String()
			}
			return fmt.Errorf("group %s is silent: %s (--max-silence %s)", k, what, limit)
		}
	}
	return nil
}
