package e2e

import (
	"context"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// Example_readme is the README's library walkthrough; it is here so that
// it compiles with every change.
func Example_readme() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := zerolog.New(zerolog.NewConsoleWriter()).With().Timestamp().Logger()

	// A socket on port 5000 that any other receiver on the host may share.
	conn, err := mcast.Listen(ctx, "udp4", ":5000", &mcast.Config{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// Join a group on eth0; rejoined by itself if eth0 goes down and up.
	set, err := group.New(conn, &group.Config{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	spec := group.MustParseSpec("239.1.2.3:5000%eth0")
	if err := set.Join(spec); err != nil {
		log.Fatal(err) // names what was wrong: errors.Is(err, group.ErrNoInterface), ...
	}

	// Two handlers, each with its own queue: a slow one cannot stall the other.
	var mux dispatch.Mux
	feed := dispatch.Pattern{Group: spec.Group}
	mux.HandleFunc(feed, func(ctx context.Context, d *dispatch.Datagram) {
		fmt.Printf("%s: %d bytes\n", d.Source, len(d.Payload)) // d.Payload is valid during the call only
	}, nil)
	mux.HandleFunc(feed, func(ctx context.Context, d *dispatch.Datagram) {
		// archive a copy: append([]byte(nil), d.Payload...)
	}, &dispatch.HandlerConfig{QueueLen: 65536, Overflow: dispatch.DropOldest})

	srv, err := dispatch.NewServer(&mux, &dispatch.Config{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.AddSource("eth0", conn); err != nil {
		log.Fatal(err)
	}
	if err := srv.Serve(ctx); err != nil {
		log.Print(err)
	}
	st := srv.Stats() // every drop, by cause: kernel, truncated, filtered, queue, panic, shutdown
	fmt.Printf("%+v\n", st.Handlers)
}
