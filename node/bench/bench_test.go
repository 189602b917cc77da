package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// The Go benchmarks share one pair of nodes: starting a testnet takes
// about a second, and the testing package calls each benchmark function
// several times while it sizes b.N.
var shared struct {
	once sync.Once
	p    *pair
	err  error
}

func sharedPair(b testing.TB) *pair {
	b.Helper()
	shared.once.Do(func() {
		shared.p, shared.err = startPair(context.Background(), Harness{})
		if shared.err == nil {
			// Warm the delivery stream and the stores.
			for i := 0; i < 20 && shared.err == nil; i++ {
				_, shared.err = shared.p.request(context.Background(), 30*time.Second)
			}
		}
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return shared.p
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.p != nil {
		if err := shared.p.close(); err != nil {
			println("close shared pair:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// BenchmarkEndToEndLatency is one request per op, sequentially: submit →
// durable at the receiver → signed receipt durable at the sender.
func BenchmarkEndToEndLatency(b *testing.B) {
	p := sharedPair(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.request(ctx, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEndToEndLatencyByKeys is BenchmarkEndToEndLatency with the
// three ways of submitting (Harness.Keys) taking turns request by
// request on one pair, so the machine's drift, which on a shared VM is
// larger than the differences, is the same for all three. It reports
// each one's p50 and mean, end to end and to durable at the receiver:
// "uuidv7" against "random" is the hand-off in the sync window alone;
// "random" against "none" is the cost of the idempotency record.
func BenchmarkEndToEndLatencyByKeys(b *testing.B) {
	p := sharedPair(b)
	defer func() { p.keys = KeysUUIDv7 }()
	ctx := context.Background()
	modes := []string{KeysNone, KeysRandom, KeysUUIDv7}
	e2e, recv := map[string][]time.Duration{}, map[string][]time.Duration{}
	i := 0
	for b.Loop() {
		m := modes[i%len(modes)]
		i++
		p.keys = m
		s, err := p.request(ctx, 30*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		e2e[m], recv[m] = append(e2e[m], s.delivered), append(recv[m], s.received)
	}
	for _, m := range modes {
		if len(e2e[m]) == 0 {
			continue
		}
		for name, ds := range map[string][]time.Duration{"e2e": e2e[m], "recv": recv[m]} {
			st := SummarizeDurations(ds)
			b.ReportMetric(float64(time.Duration(st.P50).Microseconds()), m+"-"+name+"-p50-µs")
			b.ReportMetric(float64(time.Duration(st.Mean).Microseconds()), m+"-"+name+"-mean-µs")
		}
	}
}

// BenchmarkThroughput submits and waits for each receipt from 64
// goroutines (on 2 CPUs; 32 per GOMAXPROCS in general); ns/op is the
// inverse of throughput and req/s reports it directly.
func BenchmarkThroughput(b *testing.B) {
	p := sharedPair(b)
	ctx := context.Background()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.request(ctx, 30*time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkFloorFsync is one 4 KiB append + fsync per op on the filesystem
// of the test's temporary directory, where the benchmark nodes store.
func BenchmarkFloorFsync(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "fsync-*")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0x5a}, 4<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorRoundTrip is one libp2p ping on a warm stream per op.
func BenchmarkFloorRoundTrip(b *testing.B) {
	p := sharedPair(b)
	rtts, err := pingLatencies(context.Background(), p.sender.Host(), p.receiver.PeerID(), b.N)
	if err != nil {
		b.Fatal(err)
	}
	// ping.Ping times each round trip itself; report their sum rather
	// than the loop's wall time, which includes channel hand-offs.
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(b.N), "rtt-ns/op")
}

// BenchmarkFloorCrypto is one message's cryptography per op: seal, open,
// sign a receipt, verify it (fresh keys, in-memory directory).
func BenchmarkFloorCrypto(b *testing.B) {
	s, r := mustParty(b), mustParty(b)
	dir := directoryOf("FR", s)
	doc, err := RequestDoc("DE")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := cryptoOnce(s, r, dir, doc); err != nil {
			b.Fatal(err)
		}
	}
}

func mustParty(tb testing.TB) *party {
	tb.Helper()
	p, err := freshParty()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestRunSmall runs the whole harness with tiny numbers, and its
// baseline, and checks the report is complete and that every request
// cost the durable writes the design promises (counted by the stores).
// It asserts nothing about speed.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Harness: Harness{Dir: t.TempDir(), StoreProfile: "small"}, Requests: 20, Warmup: 5,
		ThroughputRequests: 100, Concurrency: 8, FloorSamples: 20, Compare: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Setup.Durability != "journal" || rep.Setup.Keys != KeysUUIDv7 || rep.Baseline == nil ||
		rep.Baseline.Setup.Durability != "badger" || rep.Baseline.Setup.Keys != KeysNone {
		t.Fatalf("setup %+v, baseline %+v: want journal with UUIDv7 keys, then a badger baseline without keys", rep.Setup, rep.Baseline)
	}
	for _, r := range []*Report{rep, rep.Baseline} {
		// Three durable writes per request: the outbox at the sender, the
		// inbox at the receiver, the receipt at the sender. Sequentially
		// nothing is batched, so each is at least one sync.
		st := r.Latency.Store
		if st.SenderSyncs < 2 || st.ReceiverSyncs < 1 || st.Commits < 3 || st.Writes < st.Commits {
			t.Errorf("%s: per sequential request %+v: want ≥ 2 syncs at the sender, ≥ 1 at the receiver, ≥ 3 commits",
				r.Setup.Durability, st)
		}
		if st.CommitTime <= 0 || st.SyncTime > st.CommitTime || (r.Setup.Durability == "journal") != (st.SyncTime > 0) || st.StageTime <= 0 {
			t.Errorf("%s: commit time %v, sync time %v, staging time %v per request", r.Setup.Durability, st.CommitTime, st.SyncTime, st.StageTime)
		}
		// Sequentially most commits find the store idle and run on their
		// caller's goroutine.
		if st.CallerCommits <= 1 || st.CallerCommits > st.Commits {
			t.Errorf("%s: %.2f of %.2f commits per sequential request run by their callers", r.Setup.Durability, st.CallerCommits, st.Commits)
		}
		if f := r.Floor; f.RoundTripIdle.N != 20 || f.RoundTripIdle.P50 <= 0 || f.LatencyIdle != f.Latency-f.RoundTrip.P50+f.RoundTripIdle.P50 ||
			r.Latency.P50RatioIdle <= 0 {
			t.Errorf("%s: idle round trip %+v, floor with it %v, p50 over it %.2f", r.Setup.Durability, f.RoundTripIdle, f.LatencyIdle, r.Latency.P50RatioIdle)
		}
		if r.Throughput.Store.Syncs <= 0 || r.Throughput.Store.Writes < r.Throughput.Store.Commits {
			t.Errorf("%s: per request under load %+v", r.Setup.Durability, r.Throughput.Store)
		}
		if r.Latency.EndToEnd.P999 < r.Latency.EndToEnd.P99 || r.Floor.FdatasyncPrealloc.N != 20 || r.Floor.LatencyDisk <= 0 {
			t.Errorf("%s: p999 %v < p99 %v, or F_pre %+v / disk floor %v missing", r.Setup.Durability,
				r.Latency.EndToEnd.P999, r.Latency.EndToEnd.P99, r.Floor.FdatasyncPrealloc, r.Floor.LatencyDisk)
		}
	}
	if rep.Latency.Delivered != 20 || rep.Latency.EndToEnd.N != 20 {
		t.Errorf("latency phase delivered %d (%d samples), want 20", rep.Latency.Delivered, rep.Latency.EndToEnd.N)
	}
	if rep.Throughput.Delivered != 100 {
		t.Errorf("throughput phase delivered %d, want 100", rep.Throughput.Delivered)
	}
	for name, d := range map[string]Duration{
		"e2e p50":          rep.Latency.EndToEnd.P50,
		"e2e p99":          rep.Latency.EndToEnd.P99,
		"submit p50":       rep.Latency.Submit.P50,
		"to receiver p50":  rep.Latency.ToReceiver.P50,
		"receipt back p50": rep.Latency.ReceiptBack.P50,
		"fsync p50":        rep.Floor.Fsync.P50,
		"rtt p50":          rep.Floor.RoundTrip.P50,
		"crypto p50":       rep.Floor.Crypto.P50,
		"seal p50":         rep.Floor.Seal.P50,
		"open p50":         rep.Floor.Open.P50,
		"sign p50":         rep.Floor.Sign.P50,
		"verify p50":       rep.Floor.Verify.P50,
		"floor":            rep.Floor.Latency,
		"wall":             rep.Throughput.Wall,
	} {
		if d <= 0 {
			t.Errorf("%s = %v, want > 0", name, d)
		}
	}
	if rep.Latency.EndToEnd.P99 < rep.Latency.EndToEnd.P50 {
		t.Errorf("p99 %v < p50 %v", rep.Latency.EndToEnd.P99, rep.Latency.EndToEnd.P50)
	}
	if rep.Latency.P50Ratio <= 0 || rep.Throughput.PerSecond <= 0 || rep.Floor.NaiveCeiling <= 0 {
		t.Errorf("ratios not computed: p50 %.2f, %.1f/s, ceiling %.1f/s",
			rep.Latency.P50Ratio, rep.Throughput.PerSecond, rep.Floor.NaiveCeiling)
	}
	if rep.Setup.PayloadBytes == 0 || rep.Setup.EnvelopeBytes <= rep.Setup.PayloadBytes || len(rep.Setup.Connections) == 0 {
		t.Errorf("setup incomplete: %+v", rep.Setup)
	}
	if _, err := os.Stat(rep.Setup.DataDir); !os.IsNotExist(err) {
		t.Errorf("testnet dir %s not removed (stat: %v)", rep.Setup.DataDir, err)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FLOOR", "LATENCY", "THROUGHPUT", "GOALS", "÷ floor", "F_pre", "p999",
		"syncs/request", "CPU under load", "BASELINE", "idle (wake-up)", "commits run by their caller", "durable commits (", `durability "badger"`} {
		if !bytes.Contains(text.Bytes(), []byte(want)) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Latency.EndToEnd.P50 == 0 || back.Throughput.Delivered != 100 || back.Baseline == nil ||
		back.Latency.Store.Syncs != rep.Latency.Store.Syncs {
		t.Errorf("JSON round trip lost data: %s", b)
	}
}

func TestRequestDocValid(t *testing.T) {
	doc, err := RequestDoc("DE")
	if err != nil {
		t.Fatal(err)
	}
	req, err := protocol.ParseRequest(doc)
	if err != nil {
		t.Fatal(err)
	}
	if req.Recipient() != "DE" || req.RequestKind() != protocol.KindPreservation {
		t.Errorf("request to %s of kind %s", req.Recipient(), req.RequestKind())
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 500; i++ {
		s = append(s, time.Duration(i))
	}
	st := SummarizeDurations(s)
	if st.P50 != 250 || st.P99 != 495 || st.Min != 1 || st.Max != 500 || st.N != 500 {
		t.Errorf("summarize(1..500) = %+v", st)
	}
	if st.P999 != 500 {
		t.Errorf("p999 of 500 samples = %v, want the largest", st.P999)
	}
	for i := 501; i <= 2000; i++ {
		s = append(s, time.Duration(i))
	}
	if st := SummarizeDurations(s); st.P999 != 1998 || st.P99 != 1980 {
		t.Errorf("summarize(1..2000): p99 %v, p999 %v; want 1980, 1998", st.P99, st.P999)
	}
	if one := SummarizeDurations([]time.Duration{7}); one.P50 != 7 || one.P99 != 7 || one.P999 != 7 {
		t.Errorf("summarize([7]) = %+v", one)
	}
}

// TestStatsJSON pins the two JSON forms of Stats: a summary of durations
// holds milliseconds under *_ms names (vigil bench --json), a summary of
// plain numbers holds them under bare names with their sum (vigil testnet
// bench --json), and each reads back what it wrote.
func TestStatsJSON(t *testing.T) {
	d := SummarizeDurations([]time.Duration{time.Millisecond, 3 * time.Millisecond})
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"n":2,"min_ms":1,"p50_ms":1,"p90_ms":3,"p99_ms":3,"p999_ms":3,"max_ms":3,"mean_ms":2}`; string(b) != want {
		t.Errorf("durations: %s, want %s", b, want)
	}
	var d2 Stats[Duration]
	if err := json.Unmarshal(b, &d2); err != nil || d2.N != 2 || d2.Max != Duration(3*time.Millisecond) || d2.Mean != Duration(2*time.Millisecond) {
		t.Errorf("durations read back as %+v (%v)", d2, err)
	}

	n := Summarize([]float64{16.5, 15.5, 17})
	if b, err = json.Marshal(n); err != nil {
		t.Fatal(err)
	}
	if want := `{"n":3,"min":15.5,"p50":16.5,"p90":17,"p99":17,"p999":17,"max":17,"mean":16.333333333333332,"sum":49}`; string(b) != want {
		t.Errorf("numbers: %s, want %s", b, want)
	}
	var n2 Stats[float64]
	if err := json.Unmarshal(b, &n2); err != nil || n2 != n {
		t.Errorf("numbers read back as %+v (%v), want %+v", n2, err, n)
	}

	// Inside a report the forms nest as they always have.
	var rep Report
	rep.Floor.Fsync = d
	if b, err = json.Marshal(rep.Floor); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"fsync":{"n":2,"min_ms":1,`)) {
		t.Errorf("floor JSON: %s", b)
	}
}
