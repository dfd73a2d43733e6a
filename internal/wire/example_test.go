package wire_test

import (
	"fmt"

	"github.com/sharecast/sharecast/internal/wire"
)

func Example() {
	buf := make([]byte, 64)
	n := wire.Header{Stream: 0xabcd, Seq: 7, SendTime: 1_000}.Put(buf)
	wire.Fill(buf[n:], 7)

	h, err := wire.Decode(buf)
	fmt.Println(h.Stream == 0xabcd, h.Seq, h.SendTime, err, wire.CheckFill(buf[h.Len:], h.Seq))
	// Output: true 7 1000 <nil> true
}
