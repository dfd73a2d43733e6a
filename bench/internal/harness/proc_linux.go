package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// portQueues reads /proc/net/udp of this namespace: how many sockets are
// bound to port, the bytes waiting in their receive queues, and their
// drops, summed.
func portQueues(port uint16) (sockets, queued int, drops uint64, err error) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
		fs := strings.Fields(sc.Text())
		if len(fs) < 13 || !strings.HasSuffix(fs[1], want) {
			continue
		}
		_, rx, _ := strings.Cut(fs[4], ":")
		q, err1 := strconv.ParseUint(rx, 16, 64)
		d, err2 := strconv.ParseUint(fs[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, 0, fmt.Errorf("/proc/net/udp: bad line %q", sc.Text())
		}
		sockets++
		queued += int(q)
		drops += d
	}
	return sockets, queued, drops, sc.Err()
}

// drain waits until the receive queues of port are empty, read twice in a
// row, or timeout passes; it reports whether they emptied.
func drain(port uint16, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	empty := 0
	for {
		_, q, _, err := portQueues(port)
		if err != nil {
			return false, err
		}
		if q == 0 {
			empty++
			if empty == 2 {
				return true, nil
			}
		} else {
			empty = 0
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(2 * time.Millisecond) // polling the kernel's state: there is nothing to wait on
	}
}
