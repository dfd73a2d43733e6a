package group_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/rs/zerolog"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

func ExampleParseSpec() {
	for _, text := range []string{
		"239.1.2.3:5000%eth0",
		"232.1.1.1:5000@10.0.0.1",
		"[ff3e::1]:5000@[2001:db8::1]%2",
		"239.1.2.3:5000@10.0.0.1",
		"239.1.2.3:0",
	} {
		s, err := group.ParseSpec(text)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: group %s, port %d, source-specific %v, interface %q\n",
			s, s.Group, s.Port, s.IsSourceSpecific(), s.Interface)
	}
	// Output:
	// 239.1.2.3:5000%eth0: group 239.1.2.3, port 5000, source-specific false, interface "eth0"
	// 232.1.1.1:5000@10.0.0.1: group 232.1.1.1, port 5000, source-specific true, interface ""
	// [ff3e::1]:5000@2001:db8::1%2: group ff3e::1, port 5000, source-specific true, interface "2"
	// group: spec "239.1.2.3:5000@10.0.0.1": source "10.0.0.1": an any-source group takes no source (sources go with 232.0.0.0/8 and ff3x::/32; to drop a sender use ExcludeSource)
	// group: spec "239.1.2.3:0": port "0": out of range 1-65535
}

// A receiver joins groups on a socket, by spec, and leaves them all on
// Close; on Linux the Set joins again when eth0 comes back.
func ExampleSet() {
	c, err := mcast.Listen(context.Background(), "udp4", ":5000", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	set, err := group.New(c, &group.Config{Logger: zerolog.New(os.Stderr)})
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for _, text := range []string{"239.1.2.3:5000%eth0", "232.1.1.1:5000@10.0.0.1%eth0"} {
		if err := set.Join(group.MustParseSpec(text)); err != nil {
			log.Fatal(err) // names the bad part, the missing interface or the limit
		}
	}
	for _, m := range set.List() {
		fmt.Println(m) // such as "239.1.2.3:5000%eth0 on eth0 (index 2)"
	}
}
