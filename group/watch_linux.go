package group

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// resubscribeDelay is how long the watcher waits before it subscribes
// again after a subscription failed (the kernel drops a netlink socket's
// messages, and the library ends the subscription, when its buffer
// overflows).
const resubscribeDelay = time.Second

// subscription is one netlink subscription: its channel, which the library
// closes when the subscription ends, and the done channel that ends it.
type subscription[T any] struct {
	ch   chan T
	done chan struct{}
	err  chan error // the library's last error, for the log
}

func (s *subscription[T]) close() {
	if s.done == nil {
		return
	}
	close(s.done)
	// The library's receive goroutine may be blocked sending to ch; read
	// until it closes ch, so that it ends.
	for range s.ch {
	}
	s.done = nil
}

// watcher follows the kernel's link and address events (rtnetlink groups
// RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, through
// github.com/vishvananda/netlink; address events of the other family than
// the socket's are ignored) and has the Set reconcile after each burst.
type watcher struct {
	s       *Set
	ns      netns.NsHandle // the namespace of the thread that made the Set
	link    subscription[netlink.LinkUpdate]
	addr    subscription[netlink.AddrUpdate]
	lastUp  map[int]bool
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// startWatcher subscribes, in the calling thread's network namespace, and
// starts the watcher's goroutine.
func startWatcher(s *Set) (*watcher, error) {
	w := &watcher{s: s, ns: netns.None(), done: make(chan struct{}), stopped: make(chan struct{})}
	// The netlink sockets below, and net.Interfaces, belong to the calling
	// thread's namespace; the goroutine makes sure to run in it too. (The
	// process's namespace cannot tell: /proc/<pid>/ns/net is that of the
	// main thread, which Go may have lent to a goroutine locked in another.)
	if ns, err := netns.Get(); err == nil {
		w.ns = ns
	}
	if err := w.subscribeLink(); err != nil {
		w.ns.Close()
		return nil, err
	}
	if err := w.subscribeAddr(); err != nil {
		w.link.close()
		w.ns.Close()
		return nil, err
	}
	ifs, err := s.ifs.list()
	if err != nil {
		w.link.close()
		w.addr.close()
		w.ns.Close()
		return nil, err
	}
	w.lastUp = make(map[int]bool, len(ifs))
	for _, ifi := range ifs {
		w.lastUp[ifi.Index] = ifUpAndRunning(ifi.Flags)
	}
	go w.run()
	return w, nil
}

func (w *watcher) subscribeLink() error {
	sub := subscription[netlink.LinkUpdate]{ch: make(chan netlink.LinkUpdate, 64), done: make(chan struct{}), err: make(chan error, 1)}
	err := netlink.LinkSubscribeWithOptions(sub.ch, sub.done, netlink.LinkSubscribeOptions{ErrorCallback: keepLast(sub.err)})
	if err != nil {
		close(sub.done)
		return err
	}
	w.link = sub
	return nil
}

func (w *watcher) subscribeAddr() error {
	sub := subscription[netlink.AddrUpdate]{ch: make(chan netlink.AddrUpdate, 64), done: make(chan struct{}), err: make(chan error, 1)}
	err := netlink.AddrSubscribeWithOptions(sub.ch, sub.done, netlink.AddrSubscribeOptions{ErrorCallback: keepLast(sub.err)})
	if err != nil {
		close(sub.done)
		return err
	}
	w.addr = sub
	return nil
}

// keepLast returns an error callback that keeps the library's last error
// in ch (of capacity 1) without blocking the library.
func keepLast(ch chan error) func(error) {
	return func(err error) {
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- err:
		default:
		}
	}
}

func lastErr(ch chan error) error {
	select {
	case err := <-ch:
		return err
	default:
		return errors.New("subscription ended")
	}
}

// ifUpAndRunning is upAndRunning for the flags of package net, whose bits
// are not the kernel's.
func ifUpAndRunning(flags net.Flags) bool {
	return flags&net.FlagUp != 0 && flags&net.FlagRunning != 0
}

// upAndRunning reports whether the kernel's link flags (IFF_*) say up and
// running (carrier).
func upAndRunning(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0
}

// stop ends the watcher and waits for its goroutine.
func (w *watcher) stop() {
	w.once.Do(func() { close(w.done) })
	<-w.stopped
}

func (w *watcher) run() {
	defer close(w.stopped)
	if w.ns.IsOpen() {
		runtime.LockOSThread()
		here, err := netns.Get()
		if err == nil && here.Equal(w.ns) {
			runtime.UnlockOSThread()
		} else if err = netns.Set(w.ns); err != nil {
			here.Close()
			w.ns.Close()
			w.s.log.Error().Err(err).Msg("cannot enter the network namespace of the set; link watcher stopped")
			w.link.close()
			w.addr.close()
			return
		}
		// After netns.Set, the thread stays locked, and so ends with the
		// goroutine, rather than go back to the pool in another namespace.
		here.Close()
		w.ns.Close()
	}
	s := w.s
	marks := make(map[int]mark)
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var settleC, retryC <-chan time.Time
	arm := func() {
		if settleC == nil {
			settle.Reset(s.settle)
			settleC = settle.C
		}
	}
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	lost := func(what string, err error) {
		s.failures.Add(1)
		s.log.Warn().Err(err).Str("subscription", what).Dur("retry_in", resubscribeDelay).Msg("netlink subscription ended; subscribing again")
		if retryC == nil {
			retry = time.NewTimer(resubscribeDelay)
			retryC = retry.C
		}
	}
	for {
		select {
		case <-w.done:
			w.link.close()
			w.addr.close()
			return

		case u, ok := <-w.link.ch:
			if !ok {
				w.link.ch = nil // a nil channel blocks: no more from it
				close(w.link.done)
				w.link.done = nil
				lost("link", lastErr(w.link.err))
				continue
			}
			s.events.Add(1)
			w.onLink(u, marks)
			arm()

		case u, ok := <-w.addr.ch:
			if !ok {
				w.addr.ch = nil
				close(w.addr.done)
				w.addr.done = nil
				lost("address", lastErr(w.addr.err))
				continue
			}
			s.events.Add(1)
			if w.onAddr(u, marks) {
				arm()
			}

		case <-retryC:
			retryC = nil
			if w.link.ch == nil {
				if err := w.subscribeLink(); err != nil {
					lost("link", err)
					continue
				}
			}
			if w.addr.ch == nil {
				if err := w.subscribeAddr(); err != nil {
					lost("address", err)
					continue
				}
			}
			// Events were lost in between: re-join on every interface
			// that is up.
			ifs, err := s.ifs.list()
			if err != nil {
				s.failures.Add(1)
				s.log.Error().Err(err).Msg("cannot list interfaces")
				continue
			}
			for _, ifi := range ifs {
				m := marks[ifi.Index]
				m.resync = true
				marks[ifi.Index] = m
				w.lastUp[ifi.Index] = ifUpAndRunning(ifi.Flags)
			}
			arm()

		case <-settleC:
			settleC = nil
			ifs, err := s.ifs.list()
			if err != nil {
				s.failures.Add(1)
				s.log.Error().Err(err).Msg("cannot list interfaces; link events dropped")
			} else {
				s.reconcile(ifs, marks)
			}
			clear(marks)
		}
	}
}

// onLink records a link event.
func (w *watcher) onLink(u netlink.LinkUpdate, marks map[int]mark) {
	idx := int(u.Index)
	m := marks[idx]
	if u.Header.Type == unix.RTM_DELLINK {
		m.deleted = true
		delete(w.lastUp, idx)
	} else {
		// Linux keeps memberships while a link is down; what matters is
		// that it comes up again (or, new, comes up at all).
		up := upAndRunning(u.Flags)
		if up && !w.lastUp[idx] {
			m.up = true
		}
		w.lastUp[idx] = up
	}
	marks[idx] = m
	if e := w.s.log.Debug(); e.Enabled() {
		name := ""
		if u.Link != nil {
			name = u.Attrs().Name
		}
		e.Int("ifindex", idx).Str("interface", name).Bool("deleted", m.deleted).
			Bool("up", w.lastUp[idx]).Msg("link event")
	}
}

// onAddr records an address event and reports whether it matters: an
// address of the socket's family added (and done with duplicate address
// detection, so that one address counts once).
func (w *watcher) onAddr(u netlink.AddrUpdate, marks map[int]mark) bool {
	v4 := u.LinkAddress.IP.To4() != nil
	if !u.NewAddr || v4 == w.s.be.ipv6() || u.Flags&unix.IFA_F_TENTATIVE != 0 {
		return false
	}
	m := marks[u.LinkIndex]
	m.addr = true
	marks[u.LinkIndex] = m
	w.s.log.Debug().Int("ifindex", u.LinkIndex).Str("address", u.LinkAddress.IP.String()).Msg("address added")
	return true
}
