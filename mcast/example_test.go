package mcast_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/sharecast/sharecast/mcast"
)

// A receiver that shares port 5000 with any other receiver on the host,
// joins 239.1.2.3 on eth0 and reads batches of datagrams.
func ExampleListen() {
	c, err := mcast.Listen(context.Background(), "udp4", ":5000", &mcast.Config{
		Share:      mcast.ShareAnyUser, // the default
		ReadBuffer: 8 << 20,
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, mcast.ErrPortInUse) if an exclusive socket holds the port
	}
	defer c.Close()
	eth0, err := net.InterfaceByName("eth0")
	if err != nil {
		log.Fatal(err)
	}
	if err := c.JoinGroup(eth0, netip.MustParseAddr("239.1.2.3")); err != nil {
		log.Fatal(err)
	}
	batch := mcast.NewBatch(c.BatchSize(), 1500)
	for {
		n, err := c.ReadBatch(batch)
		if err != nil {
			log.Fatal(err)
		}
		for _, d := range batch[:n] {
			fmt.Printf("%s -> %s on if%d: %d bytes\n", d.Source, d.Group, d.IfIndex, len(d.Payload))
		}
	}
}
