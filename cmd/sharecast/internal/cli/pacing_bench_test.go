package cli_test

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

var achievedRE = regexp.MustCompile(`sent (\d+) datagrams.*: ([0-9.]+) datagrams/s achieved`)

// BenchmarkSendPacing measures how closely send keeps the rate asked: each
// iteration runs sharecast send as a process of its own in the test bed, a
// second's worth of 64-byte datagrams on lo, and reads the rate achieved
// from its summary. It reports the achieved/asked ratio (mean over the
// iterations) and the largest error in percent. Run it without -race (the
// race detector slows the sender several times over) and on a quiet
// machine; bench/RESULTS.md has the figures.
func BenchmarkSendPacing(b *testing.B) {
	testbed.Require(b)
	for _, rate := range []int{1_000, 10_000, 100_000, 200_000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			var sum, worst float64
			for i := 0; i < b.N; i++ {
				cmd := testbed.Command(b, "sharecast", "send", "239.10.9.1:7999",
					"--rate", strconv.Itoa(rate), "--count", strconv.Itoa(rate), "--size", "64")
				var stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = nil, &stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("send: %v: %s", err, stderr.String())
				}
				m := achievedRE.FindStringSubmatch(stderr.String())
				if m == nil || m[1] != strconv.Itoa(rate) {
					b.Fatalf("send summary: %s", stderr.String())
				}
				achieved, _ := strconv.ParseFloat(m[2], 64)
				ratio := achieved / float64(rate)
				sum += ratio
				worst = max(worst, math.Abs(ratio-1)*100)
			}
			b.ReportMetric(sum/float64(b.N), "achieved/asked")
			b.ReportMetric(worst, "max-err-%")
			b.ReportMetric(0, "ns/op")
		})
	}
}
