//go:build !linux

package group

import "runtime"

// watcher is absent outside Linux: memberships are not re-joined when
// interfaces come and go.
type watcher struct{}

func startWatcher(s *Set) (*watcher, error) {
	s.log.Debug().Str("goos", runtime.GOOS).Msg("no link watcher on this OS; memberships are not re-joined when interfaces come back")
	return nil, nil
}

func (w *watcher) stop() {}
