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

// Sample is what Stats summarises: durations, or plain numbers (MiB,
// threads, milliseconds read from an API) whose unit the field holding
// the summary names, as in rss_mib.
type Sample interface{ Duration | float64 }

// Stats summarises a set of samples. Percentiles use the nearest-rank
// method, so P99 of 500 samples is the 495th smallest and P999 of fewer
// than 1,000 samples is the largest.
//
// In JSON a summary of durations holds milliseconds under names that say
// so (min_ms, p50_ms, ...); a summary of plain numbers holds them under
// bare names (min, p50, ..., and their sum).
type Stats[T Sample] struct {
	N                                        int
	Min, P50, P90, P99, P999, Max, Mean, Sum T
}

// Summarize summarises samples.
func Summarize[T Sample](samples []T) Stats[T] {
	if len(samples) == 0 {
		return Stats[T]{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	st := Stats[T]{N: len(s), Min: s[0], Max: s[len(s)-1], P50: percentile(s, 500), P90: percentile(s, 900),
		P99: percentile(s, 990), P999: percentile(s, 999)}
	for _, x := range s {
		st.Sum += x
	}
	st.Mean = st.Sum / T(len(s))
	return st
}

// SummarizeDurations summarises time.Durations, what the benchmarks time.
func SummarizeDurations(samples []time.Duration) Stats[Duration] {
	ds := make([]Duration, len(samples))
	for i, d := range samples {
		ds[i] = Duration(d)
	}
	return Summarize(ds)
}

// percentile returns the nearest-rank percentile of sorted samples; pm
// is in thousandths (990 is p99).
func percentile[T Sample](sorted []T, pm int) T {
	rank := (pm*len(sorted) + 999) / 1000 // ceil(pm/1000 × n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// durationStatsJSON and numberStatsJSON are the JSON forms of Stats (see
// there); Stats converts to them, field for field.
type durationStatsJSON struct {
	N    int      `json:"n"`
	Min  Duration `json:"min_ms"`
	P50  Duration `json:"p50_ms"`
	P90  Duration `json:"p90_ms"`
	P99  Duration `json:"p99_ms"`
	P999 Duration `json:"p999_ms"`
	Max  Duration `json:"max_ms"`
	Mean Duration `json:"mean_ms"`
	Sum  Duration `json:"-"`
}

type numberStatsJSON struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	Sum  float64 `json:"sum"`
}

// MarshalJSON writes the summary in the form its kind of sample takes.
func (s Stats[T]) MarshalJSON() ([]byte, error) {
	switch v := any(s).(type) {
	case Stats[Duration]:
		return json.Marshal(durationStatsJSON(v))
	case Stats[float64]:
		return json.Marshal(numberStatsJSON(v))
	}
	return nil, fmt.Errorf("bench: no JSON form for %T", s)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stats[T]) UnmarshalJSON(b []byte) error {
	switch v := any(s).(type) {
	case *Stats[Duration]:
		return json.Unmarshal(b, (*durationStatsJSON)(v))
	case *Stats[float64]:
		return json.Unmarshal(b, (*numberStatsJSON)(v))
	}
	return fmt.Errorf("bench: no JSON form for %T", s)
}

func ratio(a, b Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
