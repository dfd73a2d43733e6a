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
	h := w.b.h
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
// at a time, and adds the time it took to the handler's.
func (w *worker) serveBatch(ctx context.Context, s *Server, h Handler, rl *releaser) {
	t0 := monotonic()
	for !w.serveRange(ctx, s, h, rl) {
	}
	w.b.busyNS.Add(int64(monotonic() - t0))
}

// serveRange serves claimed indexes until the batch ends, and reports
// true; or, if the handler panics, it counts the panic, logs it through the
// Server's sampler, releases that datagram and reports false, so that the
// caller goes on with the next. (One deferred recover a batch, rather than
// one a datagram.)
func (w *worker) serveRange(ctx context.Context, s *Server, h Handler, rl *releaser) (done bool) {
	var cur *record
	defer func() {
		if done {
			return
		}
		s.handlerPanicked(w.b, &cur.d, recover())
		rl.release(cur)
	}()
	for {
		i := int(w.next.Add(1) - 1)
		if i >= w.ln {
			return true
		}
		cur = w.local[i]
		h.ServeDatagram(ctx, &cur.d)
		rl.release(cur)
	}
}

// handlerPanicked counts a handler's panic over datagram d, and logs it
// through the Server's sampler.
func (s *Server) handlerPanicked(b *binding, d *Datagram, v any) {
	b.drops[causePanic].Add(1)
	if e := s.slog.Error(); e.Enabled() {
		e.Str("handler", b.rt.name).Str("src", d.Source.String()).Str("group", d.Group.String()).
			Interface("panic", v).Bytes("stack", debug.Stack()).Msg("handler panicked; datagram dropped")
	}
}

// epoch is the origin of monotonic.
var epoch = time.Now()

// monotonic returns the time since epoch, reading the monotonic clock only
// (time.Now reads the wall clock too).
func monotonic() time.Duration { return time.Since(epoch) }
