package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The checks of what the nodes hold: during the run (undelivered,
// unsettled: the wait and expect steps) and at its end (finalCheck).

// undelivered returns the requests of label not yet delivered, from the
// senders' case lists.
func (r *runner) undelivered(ctx context.Context, label string) ([]*SentRequest, error) {
	reqs := r.requests(label)
	bySender := map[string][]*SentRequest{}
	for _, q := range reqs {
		bySender[q.From] = append(bySender[q.From], q)
	}
	var out []*SentRequest
	for from, qs := range bySender {
		if r.c.Proc(from) == nil {
			out = append(out, qs...) // cannot tell while the sender is down
			continue
		}
		rows, err := r.c.Cases(ctx, from, "outgoing")
		if err != nil {
			return nil, err
		}
		state := map[string]string{}
		for _, row := range rows {
			state[row.ID] = row.Delivery
		}
		for _, q := range qs {
			if q.Delivery = state[q.CaseID]; q.Delivery != "delivered" {
				out = append(out, q)
			}
		}
	}
	return out, nil
}

// unsettled returns the requests of label whose two sides disagree on the
// case state (or that the receiver does not hold yet).
func (r *runner) unsettled(ctx context.Context, label string) ([]*SentRequest, error) {
	states := map[string]map[string]string{} // country → case → state
	get := func(cc string) (map[string]string, error) {
		if m, ok := states[cc]; ok {
			return m, nil
		}
		rows, err := r.c.Cases(ctx, cc, "")
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, row := range rows {
			m[row.Direction+"/"+row.ID] = row.State
		}
		states[cc] = m
		return m, nil
	}
	var out []*SentRequest
	for _, q := range r.requests(label) {
		if r.c.Proc(q.From) == nil || r.c.Proc(q.To) == nil {
			out = append(out, q)
			continue
		}
		s, err := get(q.From)
		if err != nil {
			return nil, err
		}
		d, err := get(q.To)
		if err != nil {
			return nil, err
		}
		q.SenderState, q.ReceiverState = s["outgoing/"+q.CaseID], d["incoming/"+q.CaseID]
		if q.ReceiverState == "" || q.SenderState != q.ReceiverState {
			out = append(out, q)
		}
	}
	return out, nil
}

// finalCheck verifies every request: delivered exactly once with a
// verified receipt, one incoming case at the receiver holding one request
// message, and the same state on both sides. Nodes still down are started
// first: the exercise ends with everyone back.
func (r *runner) finalCheck(ctx context.Context) {
	for _, cc := range r.c.Countries() {
		if r.c.Proc(cc) == nil {
			if _, err := r.startNode(ctx, cc); err != nil {
				r.fail("restart %s for the final check: %v", cc, err)
				return
			}
			r.logf("%s was down at the end; started it for the final check", cc)
		}
	}
	if len(r.rep.Requests) == 0 {
		r.logf("no requests sent; nothing to check")
		return
	}
	// Give stragglers (those behind a heal or restart) time to arrive.
	_ = until(ctx, r.o.CheckTimeout, 500*time.Millisecond, func() (bool, error) {
		a, err1 := r.undelivered(ctx, "all")
		b, err2 := r.unsettled(ctx, "all")
		return err1 == nil && err2 == nil && len(a) == 0 && len(b) == 0, nil
	})
	// Whether they did or not, record the states as they are now.
	_, _ = r.undelivered(ctx, "all")
	_, _ = r.unsettled(ctx, "all")
	incoming := map[string]map[string]int{} // receiver → case → incoming rows
	for _, q := range r.rep.Requests {
		if incoming[q.To] == nil {
			incoming[q.To] = map[string]int{}
			rows, err := r.c.Cases(ctx, q.To, "incoming")
			if err != nil {
				r.fail("cases at %s: %v", q.To, err)
				continue
			}
			for _, row := range rows {
				incoming[q.To][row.ID]++
			}
		}
		q.IncomingCases = incoming[q.To][q.CaseID]
		problems := append(r.checkSender(ctx, q), r.checkReceiver(ctx, q)...)
		if q.SenderState != q.ReceiverState {
			problems = append(problems, fmt.Sprintf("states differ: %s at %s, %s at %s", q.SenderState, q.From, q.ReceiverState, q.To))
		}
		if len(problems) > 0 {
			q.Problem = strings.Join(problems, "; ")
			r.fail("%s→%s %s %s: %s", q.From, q.To, q.Kind, q.CaseID, q.Problem)
		}
	}
}

// checkSender checks the sender holds the request delivered with a
// verified receipt.
func (r *runner) checkSender(ctx context.Context, q *SentRequest) (problems []string) {
	d, err := r.c.Case(ctx, q.From, q.CaseID)
	if err != nil {
		return []string{"sender: " + err.Error()}
	}
	if len(d.Messages) == 0 {
		return []string{"sender holds no message"}
	}
	m := d.Messages[0]
	q.Delivery, q.SenderState = m.State, d.State
	q.Verified = m.State == "delivered" && m.Receipt != nil && m.Receipt.Verified
	if !q.Verified {
		problems = append(problems, fmt.Sprintf("not delivered with a verified receipt (state %s, %d attempts, %s)", m.State, m.Attempts, m.LastError))
	}
	return problems
}

// checkReceiver checks the receiver holds the request exactly once, in
// one incoming case with one request message it can read.
func (r *runner) checkReceiver(ctx context.Context, q *SentRequest) (problems []string) {
	if q.IncomingCases != 1 {
		problems = append(problems, fmt.Sprintf("%d incoming cases at %s, want 1", q.IncomingCases, q.To))
	}
	d, err := r.c.Case(ctx, q.To, q.CaseID)
	if err != nil {
		if q.IncomingCases > 0 {
			problems = append(problems, "receiver: "+err.Error())
		}
		return problems
	}
	q.ReceiverState = d.State
	if len(d.Request) == 0 || string(d.Request) == "null" {
		problems = append(problems, fmt.Sprintf("%s cannot read the request (flags %v)", q.To, d.Flags))
	}
	for _, m := range d.Messages {
		if m.Type == "request" {
			q.RequestMessages++
		}
	}
	if q.RequestMessages != 1 {
		problems = append(problems, fmt.Sprintf("%d request messages at %s, want 1", q.RequestMessages, q.To))
	}
	return problems
}
