package dispatch

import (
	"context"
	"runtime/debug"
	"time"
)

// run is the worker goroutine: it hands the queued datagrams to the
// handler until the readers are gone and the queue is empty, or until a
// hard stop.
func (w *worker) run(s *Server) {
	defer s.workerDone()
	rl := newReleaser(s.pool, handOver)
	defer rl.flush()
	ctx := s.hctx
	h := w.rt.h
	for {
		k := w.take()
		if k < 0 {
			return
		}
		if k > 0 {
			w.serveBatch(ctx, s, h, &rl)
			continue
		}
		// The queue is empty. Readers push under w.mu, so once they are
		// all gone nothing more comes.
		w.mu.Lock()
		if w.n > 0 || w.hard {
			w.mu.Unlock()
			continue
		}
		if s.readersGone() {
			w.mu.Unlock()
			return
		}
		w.idle = true
		w.mu.Unlock()
		rl.flush()
		select {
		case <-w.wake:
		case <-s.readersDone:
		case <-s.hardCh:
		}
		w.mu.Lock()
		w.idle = false
		w.mu.Unlock()
	}
}

// serveBatch passes the hand-over batch to the handler, one claimed index
// at a time.
func (w *worker) serveBatch(ctx context.Context, s *Server, h Handler, rl *releaser) {
	t0 := time.Now()
	for {
		i := int(w.next.Add(1) - 1)
		if i >= w.ln {
			break
		}
		r := w.local[i]
		if w.call(ctx, s, h, &r.d) {
			w.rt.drops[causePanic].Add(1)
		} else {
			w.delivered.Add(1)
		}
		rl.release(r)
	}
	w.rt.busyNS.Add(int64(time.Since(t0)))
}

// call calls h, recovering a panic, which it logs through the Server's
// sampler. It reports whether h panicked.
func (w *worker) call(ctx context.Context, s *Server, h Handler, d *Datagram) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if e := s.slog.Error(); e.Enabled() {
				e.Str("handler", w.rt.name).Str("src", d.Source.String()).Str("group", d.Group.String()).
					Interface("panic", v).Bytes("stack", debug.Stack()).Msg("handler panicked; datagram dropped")
			}
		}
	}()
	h.ServeDatagram(ctx, d)
	return false
}
