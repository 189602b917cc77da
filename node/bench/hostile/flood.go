package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/time/rate"

	"github.com/vigil-network/vigil/node/deliver"
	"github.com/vigil-network/vigil/node/drills"
	"github.com/vigil-network/vigil/protocol"
)

// FloodOptions bounds one flood. Count or Duration must be set; the
// flood ends at whichever comes first.
type FloodOptions struct {
	// Count is the number of envelopes sent in all.
	Count int
	// Duration bounds the flood's wall time.
	Duration time.Duration
	// Streams is the number of delivery streams used in parallel [8].
	Streams int
	// Window is how many envelopes await an answer per stream [64].
	Window int
	// Rate, if positive, paces the whole flood at this many envelopes per
	// second (the benchmark floods at 10× the victim's limit); zero sends
	// as fast as the window allows.
	Rate float64
	// Make returns the i-th envelope (0-based). Requests, Actions and
	// BadSignatures make the usual ones.
	Make func(i int) (*protocol.Envelope, []byte, error)
	// Keep, if positive, bounds how many accepted envelopes are listed in
	// the result (the counts are always complete) [Count, or 100,000].
	Keep int
}

// Accepted is an envelope the victim receipted.
type Accepted struct {
	MessageID string
	CaseID    string
	Type      protocol.MessageType
	Bytes     int
}

// Result counts what the victim answered.
type Result struct {
	Sent      int
	Receipted int
	// Rejected counts rejections by code; Retryable those not permanent.
	Rejected  map[string]int
	Retryable int
	// Reasons keeps the first reason seen for each code (for messages).
	Reasons map[string]string
	// Unanswered are envelopes sent on a stream the victim reset or
	// closed, or whose answer did not come before the flood ended.
	Unanswered int
	// StreamErrors counts streams that failed to open or broke.
	StreamErrors int
	Accepted     []Accepted
	// AcceptedBytes is the wire size of everything receipted.
	AcceptedBytes int64
	Elapsed       time.Duration
}

func (r *Result) String() string {
	return fmt.Sprintf("sent %d, receipted %d, rejected %v (retryable %d), unanswered %d, stream errors %d in %s",
		r.Sent, r.Receipted, r.Rejected, r.Retryable, r.Unanswered, r.StreamErrors, r.Elapsed.Round(time.Millisecond))
}

// Flood pipelines envelopes to the victim on o.Streams delivery streams
// and collects the answers. A stream the victim resets is reopened, so a
// rate-limiting victim is pressed for the whole flood.
func (d *Driver) Flood(ctx context.Context, o FloodOptions) (*Result, error) {
	if o.Make == nil {
		return nil, errors.New("flood: no envelope maker")
	}
	if o.Count <= 0 && o.Duration <= 0 {
		return nil, errors.New("flood: set a count or a duration")
	}
	if o.Streams <= 0 {
		o.Streams = 8
	}
	if o.Window <= 0 {
		o.Window = 64
	}
	if o.Keep <= 0 {
		o.Keep = o.Count
		if o.Keep <= 0 {
			o.Keep = 100_000
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, o.Duration)
		defer c2()
	}
	stop := context.AfterFunc(d.ctx, cancel) // Close stops the flood
	defer stop()

	var lim *rate.Limiter
	if o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.Rate), max(1, int(o.Rate/20)))
	}
	res := &Result{Rejected: map[string]int{}, Reasons: map[string]string{}}
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
		err1 error
	)
	// take hands out envelope indexes until the count or the time is up.
	take := func() (int, bool) {
		if ctx.Err() != nil {
			return 0, false
		}
		if lim != nil && lim.Wait(ctx) != nil {
			return 0, false
		}
		i := int(next.Add(1) - 1)
		if o.Count > 0 && i >= o.Count {
			return 0, false
		}
		return i, true
	}
	record := func(a Answer, acc Accepted, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case a.Receipted:
			res.Receipted++
			if ok {
				res.AcceptedBytes += int64(acc.Bytes)
				if len(res.Accepted) < o.Keep {
					res.Accepted = append(res.Accepted, acc)
				}
			}
		case a.Reject != nil:
			res.Rejected[a.Reject.Code]++
			if !a.Reject.Permanent {
				res.Retryable++
			}
			if _, ok := res.Reasons[a.Reject.Code]; !ok {
				res.Reasons[a.Reject.Code] = a.Reject.Reason
			}
		}
	}
	start := time.Now()
	for w := 0; w < o.Streams; w++ {
		wg.Add(1)
		d.wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.wg.Done()
			for ctx.Err() == nil {
				unanswered, n, serr := d.floodStream(ctx, o, take, record)
				mu.Lock()
				res.Sent += n
				res.Unanswered += unanswered
				if serr != nil && !errors.Is(serr, errDone) {
					res.StreamErrors++
					if err1 == nil && n == 0 {
						err1 = serr
					}
				}
				mu.Unlock()
				if errors.Is(serr, errDone) {
					return
				}
				if serr != nil && n == 0 {
					// Could not even open a stream: back off briefly so a
					// victim that refuses streams is not spun against.
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if res.Sent == 0 && err1 != nil {
		return res, fmt.Errorf("flood: %w", err1)
	}
	return res, nil
}

var errDone = errors.New("flood done")

// floodStream runs one stream until the flood ends or the stream breaks.
// It returns the envelopes left unanswered, the envelopes sent and why it
// stopped (errDone: the flood is over).
func (d *Driver) floodStream(ctx context.Context, o FloodOptions, take func() (int, bool),
	record func(Answer, Accepted, bool)) (unanswered, sentN int, err error) {
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	s, err := d.host.NewStream(octx, d.victim.ID, deliver.ID)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, errDone
		}
		return 0, 0, fmt.Errorf("open delivery stream: %w", err)
	}
	defer s.Reset() // after a clean end this is a no-op on a closed stream
	var (
		mu      sync.Mutex
		pending = map[string]Accepted{}
		window  = make(chan struct{}, o.Window)
		readErr = make(chan error, 1)
	)
	// The reader owns the answers; it ends when the stream is closed or
	// reset, which the writer does on its way out.
	go func() {
		for {
			_ = s.SetReadDeadline(time.Now().Add(20 * time.Second))
			t, body, err := protocol.ReadFrame(s, protocol.MaxFrameSize)
			if err != nil {
				readErr <- err
				return
			}
			a := decodeAnswer(t, body)
			mu.Lock()
			acc, ok := pending[a.MessageID]
			delete(pending, a.MessageID)
			mu.Unlock()
			record(a, acc, ok)
			select {
			case <-window:
			default:
			}
		}
	}()
	var werr error
	for {
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			werr = errDone
		case e := <-readErr:
			readErr <- e
			werr = fmt.Errorf("delivery stream broke: %w", e)
		}
		if werr != nil {
			break
		}
		i, ok := take()
		if !ok {
			werr = errDone
			break
		}
		env, raw, err := o.Make(i)
		if err != nil {
			werr = fmt.Errorf("make envelope %d: %w", i, err)
			break
		}
		mu.Lock()
		pending[env.MessageID] = Accepted{MessageID: env.MessageID, CaseID: env.CaseID, Type: env.Type, Bytes: len(raw)}
		mu.Unlock()
		_ = s.SetWriteDeadline(time.Now().Add(15 * time.Second))
		if err := protocol.WriteFrame(s, protocol.FrameEnvelope, raw); err != nil {
			mu.Lock()
			delete(pending, env.MessageID)
			mu.Unlock()
			werr = fmt.Errorf("write envelope: %w", err)
			break
		}
		sentN++
	}
	// Drain: wait for the answers still due, bounded, then end the stream.
	_ = s.CloseWrite()
	select {
	case <-readErr:
	case <-time.After(30 * time.Second):
		s.Reset()
		<-readErr
	}
	mu.Lock()
	unanswered = len(pending)
	mu.Unlock()
	return unanswered, sentN, werr
}

// Requests makes envelopes carrying valid emergency requests to the
// victim, each on a new case, padded to about size bytes of JSON (0: the
// natural size, about 2 KiB).
func (d *Driver) Requests(size int) func(i int) (*protocol.Envelope, []byte, error) {
	return func(i int) (*protocol.Envelope, []byte, error) {
		doc, err := EmergencyRequest(d.victim.Country, fmt.Sprintf("HOSTILE-%d", i), size)
		if err != nil {
			return nil, nil, err
		}
		env, err := d.Seal(protocol.TypeRequest, "", doc)
		if err != nil {
			return nil, nil, err
		}
		return env, env.Raw, nil
	}
}

// Actions makes action envelopes on one case, with increasing seq from
// first, each about size bytes of JSON. They are request_info actions: a
// responder's question, text only.
func (d *Driver) Actions(caseID string, first uint64, size int) func(i int) (*protocol.Envelope, []byte, error) {
	return func(i int) (*protocol.Envelope, []byte, error) {
		doc, err := ActionDoc(protocol.ActRequestInfo, first+uint64(i), size)
		if err != nil {
			return nil, nil, err
		}
		env, err := d.Seal(protocol.TypeAction, caseID, doc)
		if err != nil {
			return nil, nil, err
		}
		return env, env.Raw, nil
	}
}

// BadSignatures makes small request envelopes whose signature is broken
// (the last byte flipped): the victim must verify and refuse each.
func (d *Driver) BadSignatures() func(i int) (*protocol.Envelope, []byte, error) {
	mk := d.Requests(0)
	return func(i int) (*protocol.Envelope, []byte, error) {
		env, raw, err := mk(i)
		if err != nil {
			return nil, nil, err
		}
		bad := append([]byte(nil), raw...)
		bad[len(bad)-1] ^= 0x01
		return env, bad, nil
	}
}

// EmergencyRequest is a valid emergency disclosure request (Second
// Additional Protocol, Art. 9) to country, with emergency_facts padded so
// the document is about size bytes.
func EmergencyRequest(to, reference string, size int) ([]byte, error) {
	req := protocol.EmergencyRequest{
		Kind: protocol.KindEmergency, To: to, Date: "2026-11-27", Reference: reference,
		CompetentAuthority: protocol.Contact{
			Organisation: "Hostile test authority", Person: "Duty officer", Address: "Nowhere 1",
			Phone: "+000 555 0000", Mobile: "+000 555 0001", Email: "duty@hostile.example.org",
			OfficeHours: "24/7", TimeZone: "UTC", PreferredChannel: "vigil",
		},
		VerificationContact: protocol.Contact{Person: "Duty supervisor", JobTitle: "Head of the duty service",
			Phone: "+000 555 0002", Email: "supervisor@hostile.example.org"},
		LegalBasisStatement: "Request made under Article 9 of the Second Additional Protocol (CETS No. 224).",
		Provider:            protocol.Custodian{Name: "Example Messaging GmbH", Address: "Musterstraße 1, 10115 Berlin"},
		Offences: []protocol.Offence{{Description: "Threat to kill", LegalProvisions: "Art. 222-17",
			MaximumPenalty: "5 years' imprisonment"}},
		EmergencyFacts:   "A person's life is at imminent risk.",
		DataRelationship: "The account's login IPs are the only lead.",
		DataDescription:  "Subscriber information and login IP addresses.",
		Safeguards: protocol.Safeguards{LegalBasis: "Second Additional Protocol, Art. 9",
			Proportionality: "One account, one day.", HandlingCode: "H2"},
	}
	return marshalPadded(&req, &req.EmergencyFacts, "x", size)
}

// ActionDoc is an action document padded to about size bytes of text.
func ActionDoc(a protocol.ActionName, seq uint64, size int) ([]byte, error) {
	act := protocol.Action{Action: a, Seq: seq, Operator: "Hostile operator", Text: "Please clarify."}
	return marshalPadded(&act, &act.Text, "y", size)
}

// marshalPadded marshals v; if that is under size bytes, it lengthens the
// text field (a string in v) with fill by the difference and marshals
// again.
func marshalPadded(v any, field *string, fill string, size int) ([]byte, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if pad := size - len(doc); pad > 0 {
		*field += " " + strings.Repeat(fill, pad-1)
		if doc, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// PingOptions bounds a drill ping flood.
type PingOptions struct {
	Count    int
	Duration time.Duration
	Streams  int // concurrent pingers [32]
	Rate     float64
}

// PingResult counts the victim's answers to a ping flood.
type PingResult struct {
	Sent  int
	Pongs int
	// Refused are pings whose stream the victim reset or closed without a
	// pong (a rate-limited victim refuses this way).
	Refused      int
	StreamErrors int
	Elapsed      time.Duration
}

// PingFlood sends signed drill pings on /vigil/drill, one per stream as a
// drill does, from o.Streams pingers at once.
func (d *Driver) PingFlood(ctx context.Context, o PingOptions) (*PingResult, error) {
	if o.Count <= 0 && o.Duration <= 0 {
		return nil, errors.New("ping flood: set a count or a duration")
	}
	if o.Streams <= 0 {
		o.Streams = 32
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, o.Duration)
		defer c2()
	}
	stop := context.AfterFunc(d.ctx, cancel)
	defer stop()
	var lim *rate.Limiter
	if o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.Rate), max(1, int(o.Rate/20)))
	}
	var (
		next                       atomic.Int64
		sent, pongs, refused, errs atomic.Int64
		wg                         sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < o.Streams; w++ {
		wg.Add(1)
		d.wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.wg.Done()
			for ctx.Err() == nil {
				if lim != nil && lim.Wait(ctx) != nil {
					return
				}
				if i := next.Add(1); o.Count > 0 && i > int64(o.Count) {
					return
				}
				ok, opened := d.pingOnce(ctx)
				switch {
				case !opened:
					errs.Add(1)
					select { // the victim refuses streams: do not spin
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				case ok:
					sent.Add(1)
					pongs.Add(1)
				default:
					sent.Add(1)
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return &PingResult{Sent: int(sent.Load()), Pongs: int(pongs.Load()), Refused: int(refused.Load()),
		StreamErrors: int(errs.Load()), Elapsed: time.Since(start)}, nil
}

// pingOnce sends one ping and reports whether a valid pong came back and
// whether the stream could be opened at all.
func (d *Driver) pingOnce(ctx context.Context) (pong, opened bool) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := d.host.NewStream(sctx, d.victim.ID, drills.ID)
	if err != nil {
		return false, false
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	p, err := protocol.NewPing(d.m.Identity, d.now())
	if err != nil {
		return false, true
	}
	if err := protocol.WriteFrame(s, protocol.FramePing, p.Raw); err != nil {
		return false, true
	}
	t, body, err := protocol.ReadFrame(s, protocol.MaxDrillFrame)
	if err != nil || t != protocol.FramePong {
		return false, true
	}
	pg, err := protocol.ParsePong(body)
	if err != nil || pg.Verify(p, d.victim.ID) != nil {
		return false, true
	}
	return true, true
}

// Connected reports whether the driver's host holds a connection to the
// victim.
func (d *Driver) Connected() bool {
	return d.host.Network().Connectedness(d.victim.ID) == network.Connected
}
