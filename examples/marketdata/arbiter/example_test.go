package arbiter_test

import (
	"fmt"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

func Example() {
	session := moldudp64.MustParseSession("20240102A")
	a, err := arbiter.New(&arbiter.Config{
		StartSeq:   1,
		GapTimeout: time.Millisecond,
		OnMessage: func(m arbiter.Message) {
			fmt.Printf("%d %s from %s\n", m.Seq, m.Data, m.Line)
		},
		OnGap: func(g arbiter.Gap) {
			fmt.Printf("gap %d-%d (%s)\n", g.First, g.Last, g.Reason)
		},
	})
	if err != nil {
		panic(err)
	}

	start := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	var buf []byte
	feed := func(line arbiter.Line, us int, seq uint64, msgs ...string) {
		var bs [][]byte
		for _, m := range msgs {
			bs = append(bs, []byte(m))
		}
		buf, _ = moldudp64.AppendPacket(buf[:0], session, seq, bs...)
		p, err := moldudp64.Decode(buf) // as a receive loop would, reusing buf
		if err != nil {
			panic(err)
		}
		a.Feed(line, p, start.Add(time.Duration(us)*time.Microsecond))
	}

	feed(arbiter.LineA, 0, 1, "add", "exec")  // 1-2 on A
	feed(arbiter.LineA, 10, 5, "cancel")      // A lost 3-4: 5 waits
	feed(arbiter.LineB, 20, 1, "add", "exec") // B, behind: duplicates
	feed(arbiter.LineB, 25, 3, "replace")     // B has 3, but lost 4 too
	a.Tick(start.Add(2 * time.Millisecond))   // 4 is given up

	st := a.Stats()
	fmt.Printf("delivered %d, missing %d; duplicates on B %d; 5 waited %v\n",
		st.Delivered, st.Missing, st.Lines[arbiter.LineB].Duplicates, st.Delay.Max)
	// Output:
	// 1 add from A
	// 2 exec from A
	// 3 replace from B
	// gap 4-4 (timeout)
	// 5 cancel from A
	// delivered 4, missing 1; duplicates on B 2; 5 waited 1.99ms
}
