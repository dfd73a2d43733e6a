package hub_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/hub"
)

// A hub: one socket on port 5000, a ring that consumers attach to by the
// name "feed", until Ctrl-C.
func Example_hub() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	h, err := hub.Listen(ctx, []string{"239.1.2.3:5000"}, &hub.Config{Name: "feed", Group: "marketdata"})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close() // tells the consumers that the hub is gone
	if err := h.Serve(ctx); err != nil {
		log.Print(err)
	}
}

// A consumer in another process: the handlers of a dispatch.Server, served
// from the hub's ring rather than from a socket.
func Example_consumer() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := hub.Attach("feed", nil)
	if err != nil {
		log.Fatal(err) // errors.Is(err, hub.ErrNoHub), hub.ErrAccessDenied, ...
	}
	defer c.Close()
	var mux dispatch.Mux
	mux.HandleFunc(dispatch.Pattern{}, func(ctx context.Context, d *dispatch.Datagram) {
		fmt.Printf("%s:%d from %s: %d bytes\n", d.Group, d.Port, d.Source, len(d.Payload))
	}, &dispatch.HandlerConfig{Inline: true})
	srv, err := dispatch.NewServer(&mux, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.AddTo(srv); err != nil {
		log.Fatal(err)
	}
	if err := srv.Serve(ctx); errors.Is(err, hub.ErrHubGone) {
		log.Print("the hub has gone; attach again to find a new one")
	}
	for _, s := range c.Sources() {
		fmt.Printf("%s: delivered %d, overrun %d\n", s.Name(), s.Delivered(), s.Overrun())
	}
}
