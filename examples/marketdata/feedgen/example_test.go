package feedgen_test

import (
	"fmt"
	"time"

	"github.com/sharecast/sharecast/examples/marketdata/arbiter"
	"github.com/sharecast/sharecast/examples/marketdata/feedgen"
	"github.com/sharecast/sharecast/internal/moldudp64"
)

// Example runs a lossy A/B feed through an arbiter and compares the gaps it
// reports with the messages the generator says both lines lost.
func Example() {
	g, err := feedgen.New(&feedgen.Config{
		Seed:         42,
		Messages:     10000,
		EndOfSession: 3,
		A:            feedgen.LineConfig{Loss: 0.05, Reorder: 0.01},
		B:            feedgen.LineConfig{Loss: 0.05, Duplicate: 0.01, Delay: 20 * time.Microsecond},
	})
	if err != nil {
		panic(err)
	}
	var gaps []feedgen.Range
	a, err := arbiter.New(&arbiter.Config{
		StartSeq:   1,
		GapTimeout: 100 * time.Microsecond,
		OnGap: func(gap arbiter.Gap) {
			gaps = append(gaps, feedgen.Range{First: gap.First, Last: gap.Last})
		},
	})
	if err != nil {
		panic(err)
	}
	start := time.Now()
	var last time.Time
	for {
		p, ok := g.Next()
		if !ok {
			break
		}
		pkt, err := moldudp64.Decode(p.Data)
		if err != nil {
			panic(err)
		}
		last = start.Add(p.At)
		a.Feed(arbiter.Line(p.Line), pkt, last)
	}
	a.Tick(last.Add(time.Millisecond))

	st := a.Stats()
	fmt.Println("delivered + missing:", st.Delivered+st.Missing)
	fmt.Println("gaps as expected:", fmt.Sprint(gaps) == fmt.Sprint(g.Missing()))
	// Output:
	// delivered + missing: 10000
	// gaps as expected: true
}
