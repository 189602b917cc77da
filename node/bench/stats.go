package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Duration is a time.Duration that serialises to JSON as a number of
// milliseconds (fractional), which reads better in reports than
// nanoseconds.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Ms returns the value in milliseconds.
func (d Duration) Ms() float64 { return float64(d) / float64(time.Millisecond) }

// MarshalJSON writes milliseconds.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Ms()) }

// UnmarshalJSON reads milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// String formats the value with a unit suited to its size.
func (d Duration) String() string {
	switch v := time.Duration(d); {
	case v >= time.Second:
		return fmt.Sprintf("%.3f s", v.Seconds())
	case v >= time.Millisecond:
		return fmt.Sprintf("%.3f ms", d.Ms())
	default:
		return fmt.Sprintf("%.1f µs", float64(v)/float64(time.Microsecond))
	}
}

// Stats summarises a set of samples. Percentiles use the nearest-rank
// method, so P99 of 500 samples is the 495th smallest.
type Stats struct {
	N    int      `json:"n"`
	Min  Duration `json:"min_ms"`
	P50  Duration `json:"p50_ms"`
	P90  Duration `json:"p90_ms"`
	P99  Duration `json:"p99_ms"`
	Max  Duration `json:"max_ms"`
	Mean Duration `json:"mean_ms"`
}

func summarize(samples []time.Duration) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Stats{N: len(s), Min: Duration(s[0]), P50: Duration(percentile(s, 50)), P90: Duration(percentile(s, 90)),
		P99: Duration(percentile(s, 99)), Max: Duration(s[len(s)-1]), Mean: Duration(sum / time.Duration(len(s)))}
}

// percentile returns the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func ratio(a, b Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
