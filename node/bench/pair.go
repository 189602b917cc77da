package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/vigil-network/vigil/node"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/node/testnet"
	"github.com/vigil-network/vigil/protocol"
)

// pair is two in-process nodes of a fresh testnet on loopback: sender
// (the testnet's first country) and receiver (its second).
type pair struct {
	dir      string
	removeAt bool // remove dir on close
	man      *testnet.Manifest

	senderCfg, receiverCfg *config.Config
	sender, receiver       *node.Node
	to                     string // receiver's country
	doc                    []byte // the request every submission sends

	tr     *Tracker
	cancel context.CancelFunc
}

// startPair creates a two-node testnet, starts both nodes in this process
// and waits until they are connected.
func startPair(ctx context.Context, o Harness) (p *pair, err error) {
	o.SetDefaults()
	dir, man, err := o.NewTestnet("vigil-bench-", 2, true)
	if err != nil {
		return nil, err
	}
	p = &pair{dir: dir, removeAt: !o.Keep, man: man, tr: NewTracker()}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
			p = nil
		}
	}()
	if p.senderCfg, err = config.LoadConfig(p.man.Nodes[0].Config); err != nil {
		return p, err
	}
	if p.receiverCfg, err = config.LoadConfig(p.man.Nodes[1].Config); err != nil {
		return p, err
	}
	p.to = p.man.Nodes[1].Country
	if p.doc, err = RequestDoc(p.to); err != nil {
		return p, err
	}

	nctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	if p.sender, err = node.New(p.senderCfg, node.Options{Logger: o.Logger.Named(p.man.Nodes[0].Country),
		OnDelivered: p.tr.Delivered}); err != nil {
		return p, fmt.Errorf("sender: %w", err)
	}
	if p.receiver, err = node.New(p.receiverCfg, node.Options{Logger: o.Logger.Named(p.to),
		OnReceived: p.tr.Received}); err != nil {
		return p, fmt.Errorf("receiver: %w", err)
	}
	if err = p.receiver.Start(nctx); err != nil {
		return p, fmt.Errorf("start receiver: %w", err)
	}
	if err = p.sender.Start(nctx); err != nil {
		return p, fmt.Errorf("start sender: %w", err)
	}
	return p, p.waitConnected(ctx, 20*time.Second)
}

func (p *pair) waitConnected(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.sender.Host().Network().Connectedness(p.receiver.PeerID()) == network.Connected &&
			p.receiver.Host().Network().Connectedness(p.sender.PeerID()) == network.Connected {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes did not connect within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// close stops both nodes and removes the testnet directory unless kept.
func (p *pair) close() error {
	var errs []error
	for _, n := range []*node.Node{p.sender, p.receiver} {
		if n != nil {
			errs = append(errs, n.Close())
		}
	}
	if p.cancel != nil {
		p.cancel()
	}
	if p.removeAt && p.dir != "" {
		errs = append(errs, os.RemoveAll(p.dir))
	}
	return errors.Join(errs...)
}

// transports lists the remote addresses of the sender's connections to the
// receiver: which transport the measured traffic used.
func (p *pair) transports() []string {
	var out []string
	for _, c := range p.sender.Host().Network().ConnsToPeer(p.receiver.PeerID()) {
		out = append(out, fmt.Sprintf("%s (%s)", c.RemoteMultiaddr(), c.Stat().Direction))
	}
	return out
}

// sample is one request's timeline, each relative to the submit call.
type sample struct {
	submitted time.Duration // SubmitRequest returned: durable in the outbox
	received  time.Duration // durable at the receiver (its OnReceived)
	delivered time.Duration // receipt verified and durable at the sender
	at        time.Time     // when the delivery was recorded
}

// request submits one request and waits until its receipt is durable at
// the sender.
func (p *pair) request(ctx context.Context, timeout time.Duration) (sample, error) {
	t0 := time.Now()
	sub, err := p.sender.Cases().Submit(ctx, "bench", p.doc)
	if err != nil {
		return sample{}, fmt.Errorf("submit: %w", err)
	}
	t1 := time.Now()
	at, err := p.tr.Wait(ctx, sub.MessageID, timeout)
	if err != nil {
		return sample{}, err
	}
	s := sample{submitted: t1.Sub(t0), delivered: at.Sub(t0), at: at}
	if rt, ok := p.tr.TakeReceived(sub.MessageID); ok {
		s.received = rt.Sub(t0)
	}
	return s, nil
}

// Tracker turns the nodes' OnReceived and OnDelivered hooks into per
// message timestamps. A delivery can be recorded before the submitter
// learns the message ID (SubmitRequest wakes the delivery worker before it
// returns), so unclaimed deliveries are buffered by ID.
type Tracker struct {
	mu      sync.Mutex
	waiting map[string]chan time.Time
	early   map[string]time.Time // delivered before anyone waited
	recvd   map[string]time.Time
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{waiting: map[string]chan time.Time{}, early: map[string]time.Time{}, recvd: map[string]time.Time{}}
}

// Delivered records that message id's receipt is durable at the sender
// (a node.Options.OnDelivered hook).
func (t *Tracker) Delivered(id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch, ok := t.waiting[id]; ok {
		delete(t.waiting, id)
		ch <- now // buffered
		return
	}
	t.early[id] = now
}

// Received records that message id is durable at the receiver (a
// node.Options.OnReceived hook).
func (t *Tracker) Received(id string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recvd[id] = now
}

// TakeReceived returns, and forgets, when message id was received.
func (t *Tracker) TakeReceived(id string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.recvd[id]
	delete(t.recvd, id)
	return at, ok
}

// Wait returns when message id was delivered.
func (t *Tracker) Wait(ctx context.Context, id string, timeout time.Duration) (time.Time, error) {
	t.mu.Lock()
	if at, ok := t.early[id]; ok {
		delete(t.early, id)
		t.mu.Unlock()
		return at, nil
	}
	ch := make(chan time.Time, 1)
	t.waiting[id] = ch
	t.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case at := <-ch:
		return at, nil
	case <-timer.C:
		err := fmt.Errorf("message %s: no durable receipt within %s", id, timeout)
		t.forget(id)
		return time.Time{}, err
	case <-ctx.Done():
		t.forget(id)
		return time.Time{}, ctx.Err()
	}
}

func (t *Tracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.waiting, id)
	delete(t.recvd, id)
}

// RequestDoc builds a valid preservation request to country to, modelled
// on configs/examples/preservation.json (about 4.5 KiB of JSON), so the
// benchmark does not depend on the working directory.
func RequestDoc(to string) ([]byte, error) {
	yes := true
	from1 := time.Date(2026, 11, 21, 23, 40, 0, 0, time.UTC)
	to1 := time.Date(2026, 11, 22, 4, 15, 0, 0, time.UTC)
	from2 := time.Date(2026, 11, 22, 5, 2, 0, 0, time.UTC)
	req := protocol.PreservationRequest{
		Kind:               protocol.KindPreservation,
		To:                 to,
		Date:               "2026-11-27",
		Reference:          "OFAC-2026-PC-00417",
		RequestType:        "new",
		RequestedAuthority: "Bundeskriminalamt (BKA), SO 41 - 24/7 Kontaktstelle Cybercrime, Wiesbaden",
		RequestingAuthority: protocol.Contact{
			Organisation:     "Office anti-cybercriminalité (OFAC), Direction nationale de la police judiciaire",
			Person:           "Capitaine Claire Martin, 24/7 point of contact",
			Address:          "Nanterre, France",
			Phone:            "+33 1 99 00 12 47",
			Mobile:           "+33 6 39 98 12 47",
			Email:            "pc247@ofac.example.fr",
			OfficeHours:      "Mon-Fri 08:30-18:30; on-call duty officer 24/7",
			TimeZone:         "Europe/Paris",
			PreferredChannel: "vigil",
		},
		ConfirmationContact: protocol.Contact{
			Organisation: "Office anti-cybercriminalité (OFAC)",
			Person:       "Lieutenant Julien Moreau",
			Phone:        "+33 1 99 00 12 23",
			Email:        "julien.moreau@ofac.example.fr",
			OfficeHours:  "Mon-Fri 09:00-18:00",
			TimeZone:     "Europe/Paris",
		},
		InvestigatingAuthority: "Office anti-cybercriminalité (OFAC), Section opérationnelle rançongiciels, Nanterre",
		ProsecutorOrCourt: &protocol.Authority{
			Name:       "Parquet de Paris, section J3 (lutte contre la cybercriminalité)",
			CaseNumber: "PQ 26 318 000451",
		},
		RelatedReferences: []string{"EUROPOL SIENA 2026-1189-04 (fictional)"},
		Offence: protocol.Offence{
			Description:     "Ransomware attack on a regional hospital group: intrusion into an automated data processing system, encryption and exfiltration of patient data, followed by extortion in an organised gang.",
			LegalProvisions: "Code pénal, articles 323-1, 323-3, 323-4-1 and 312-1; article 312-6 (extortion in an organised gang)",
			MaximumPenalty:  "20 years' imprisonment and a fine of EUR 150,000",
		},
		FactsSummary:     "On 22 November 2026 the servers of Groupe Hospitalier Exemple (fictional), Lyon, were encrypted by a ransomware variant and about 400 GB of patient records were exfiltrated. Logs of the victim's VPN gateway show the initial access and the staging of the exfiltration from IP address 203.0.113.47 during the window given below. The ransom note directs the victim to negotiate via the mail account below, which is hosted by the custodian in Germany. The data is needed to identify the operator of the infrastructure and the persons controlling the account.",
		DataToPreserve:   "For the IP address: subscriber data of the customer to whom 203.0.113.47 was assigned during the window, connection and session logs, and logs of the associated virtual server. For the mail account: subscriber and registration data (including registration IP and time), login and access logs with IP addresses and ports, and stored content of the mailbox (messages, drafts, contacts) as held at the date of preservation.",
		DataRelationship: "203.0.113.47 is the source of the intrusion and exfiltration recorded in the victim's VPN logs; the mail account is named in the ransom note as the only negotiation channel.",
		DataCategories:   []string{"subscriber", "traffic", "content"},
		Identifiers: []protocol.Identifier{
			{Type: "ip", Value: "203.0.113.47", From: from1, To: to1, TimeZoneGiven: "Europe/Paris"},
			{Type: "account", Value: "restore-support@mail.example.org", From: from2},
		},
		Custodian: protocol.Custodian{
			Name:           "Example Hosting GmbH (fictional)",
			Address:        "Beispielstraße 1, 10115 Berlin, Germany",
			SystemLocation: "Data centre in Frankfurt am Main, Germany",
		},
		Necessity:    "The custodian's default retention for connection logs is 7 days and inactive mailboxes may be deleted by the account holder at any time; without expedited preservation the data identifying the offenders will be lost before a mutual legal assistance request can be executed.",
		MLAToFollow:  &yes,
		Confidential: &yes,
		NoUserNotice: &yes,
		PeriodDays:   90,
		Safeguards: protocol.Safeguards{
			LegalBasis:      "Budapest Convention on Cybercrime, Art. 29 and 35; Code de procédure pénale, articles 60-1 and 77-1-1",
			Proportionality: "Preservation only, limited to one IP address for a window of under five hours and one account used exclusively for the extortion; no disclosure is requested before the MLA request.",
			HandlingCode:    "H2",
		},
	}
	doc, err := json.MarshalIndent(&req, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := protocol.ParseRequest(doc); err != nil {
		return nil, fmt.Errorf("bench request does not validate: %w", err)
	}
	return doc, nil
}
