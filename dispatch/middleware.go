package dispatch

import (
	"context"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// LogConfig configures [Logging]. The zero value, as a nil *LogConfig,
// means the defaults that each field documents.
type LogConfig struct {
	// Logger receives the events. The zero value logs nothing.
	Logger zerolog.Logger
	// Level is the level of the events; the zero value is debug.
	Level zerolog.Level
	// Sampler picks the datagrams that are logged. nil means at most 10
	// a second (zerolog.BurstSampler{Burst: 10, Period: time.Second}).
	Sampler zerolog.Sampler
}

// Logging returns middleware that logs a sample of the datagrams (socket,
// source, group, port, length) before passing each on. Datagrams that the
// sampler skips, or that the logger's level hides, cost no allocation.
func Logging(cfg *LogConfig) Middleware {
	var c LogConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Sampler == nil {
		c.Sampler = &zerolog.BurstSampler{Burst: 10, Period: time.Second}
	}
	log := c.Logger.Sample(c.Sampler)
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, d *Datagram) {
			if e := log.WithLevel(c.Level); e.Enabled() {
				e.Str("socket", d.Socket).Str("src", d.Source.String()).Str("group", d.Group.String()).
					Uint16("port", d.Port).Int("len", len(d.Payload)).Msg("datagram")
			}
			next.ServeDatagram(ctx, d)
		})
	}
}

// WithLogger returns middleware that gives each datagram's handler a
// logger in its context, derived from log and tagged with the datagram's
// socket, source and group, for zerolog.Ctx(ctx). It allocates for every
// datagram (the logger's context and a context.Context), so use it where
// that is worth it; elsewhere, handlers can log through a logger of their
// own, or take one from the Server's context with zerolog.Ctx.
func WithLogger(log zerolog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, d *Datagram) {
			l := log.With().Str("socket", d.Socket).Str("src", d.Source.String()).
				Str("group", d.Group.String()+":"+strconv.Itoa(int(d.Port))).Logger()
			next.ServeDatagram(l.WithContext(ctx), d)
		})
	}
}
