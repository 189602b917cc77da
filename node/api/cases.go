package api

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-network/vigil/node/accounts"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Requests, cases, actions, assignment and drafts.

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	body, ok := readJSONBody(w, r)
	if !ok {
		return
	}
	sub, err := s.d.Cases.Submit(r.Context(), ActorOf(r), body, key)
	var verr *protocol.ValidationError
	switch {
	case errors.As(err, &verr):
		WriteError(w, http.StatusUnprocessableEntity, "request is invalid", verr.Fields)
	case errors.Is(err, ErrIdempotencyMismatch):
		WriteError(w, http.StatusUnprocessableEntity, err.Error()+"; use a new key for a new request",
			[]protocol.FieldError{{Field: "(header) " + types.IdempotencyKeyHeader, Message: "was used for a different request"}})
	case err != nil:
		s.log.Error("submit request", zap.Error(err))
		WriteError(w, http.StatusServiceUnavailable, "request was NOT accepted: "+err.Error(), nil)
	default:
		if sub.Replayed {
			w.Header().Set(types.IdempotentReplayedHeader, "true")
		}
		WriteJSON(w, http.StatusCreated, sub)
	}
}

// idempotencyKey is the request's Idempotency-Key header ("" if none); it
// answers 400 itself for a malformed or repeated one.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	vals := r.Header.Values(types.IdempotencyKeyHeader)
	switch {
	case len(vals) == 0:
		return "", true
	case len(vals) > 1:
		WriteError(w, http.StatusBadRequest, types.IdempotencyKeyHeader+" header is given more than once",
			[]protocol.FieldError{{Field: "(header) " + types.IdempotencyKeyHeader, Message: "must be given once"}})
		return "", false
	case !store.ValidIdempotencyKey(vals[0]):
		msg := "must be 1-" + strconv.Itoa(store.MaxIdempotencyKey) + " printable ASCII characters, without spaces"
		WriteError(w, http.StatusBadRequest, types.IdempotencyKeyHeader+" header is invalid: it "+msg,
			[]protocol.FieldError{{Field: "(header) " + types.IdempotencyKeyHeader, Message: msg}})
		return "", false
	}
	return vals[0], true
}

func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	body, ok := readJSONBody(w, r)
	if !ok {
		return
	}
	var verr *protocol.ValidationError
	if err := s.d.Cases.Validate(body); errors.As(err, &verr) {
		WriteError(w, http.StatusUnprocessableEntity, "request is invalid", verr.Fields)
		return
	} else if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	WriteJSON(w, http.StatusOK, types.Validated{OK: true})
}

func (s *Server) handleAct(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !protocol.ValidID(id) {
		WriteError(w, http.StatusBadRequest, "case id must be 32 hex characters", nil)
		return
	}
	body, ok := readJSONBody(w, r)
	if !ok {
		return
	}
	res, err := s.d.Cases.Act(r.Context(), ActorOf(r), id, body)
	var (
		verr *protocol.ValidationError
		terr *protocol.TransitionError
	)
	switch {
	case errors.As(err, &verr):
		WriteError(w, http.StatusUnprocessableEntity, "action is invalid", verr.Fields)
	case errors.As(err, &terr):
		WriteError(w, http.StatusConflict, terr.Error(), nil)
	case errors.Is(err, ErrNoCase):
		WriteError(w, http.StatusNotFound, err.Error(), nil)
	case err != nil:
		s.log.Error("act", zap.String("case_id", id), zap.Error(err))
		WriteError(w, http.StatusServiceUnavailable, "action was NOT taken: "+err.Error(), nil)
	default:
		WriteJSON(w, http.StatusCreated, res)
	}
}

// summarize is a case's row as of the node's clock.
func (s *Server) summarize(c *store.Case) types.CaseSummary { return Summarize(c, s.d.Now()) }

// deliveryState is a message's transport state; a queued message on the
// wire shows as sent.
func (s *Server) deliveryState(m *store.Message) string {
	if m.State == store.StateQueued && s.d.Cases.InFlight(m.ID) {
		return string(store.StateSent)
	}
	return string(m.State)
}

func (s *Server) handleCases(w http.ResponseWriter, r *http.Request) {
	lq, ferrs := parseListQuery(r.URL.Query(), s.d.IdentifierKey)
	if len(ferrs) > 0 {
		WriteError(w, http.StatusBadRequest, "invalid case list query", ferrs)
		return
	}
	out := types.CaseList{Cases: []types.CaseSummary{}, Country: s.d.Country}
	err := s.d.Store.View(func(tx *store.ReadTx) error {
		all, err := tx.Cases(0)
		if err != nil {
			return err
		}
		// The store keeps no index: one scan filters, and the page is cut
		// after the sort, so only its rows are summarised.
		matched := make([]*store.Case, 0, len(all))
		for _, c := range all {
			if lq.match(c) {
				matched = append(matched, c)
			}
		}
		out.Total = len(matched)
		sort.Slice(matched, func(i, j int) bool { return lq.less(lq.keyOf(matched[i]), lq.keyOf(matched[j])) })
		first := 0
		if lq.after != nil {
			first = sort.Search(len(matched), func(i int) bool { return lq.less(*lq.after, lq.keyOf(matched[i])) })
		}
		page := matched[first:min(first+lq.limit, len(matched))]
		for _, c := range page {
			cs := s.summarize(c)
			if len(c.MessageIDs) > 0 {
				if m, err := tx.Message(c.MessageIDs[0]); err == nil {
					cs.Delivery = s.deliveryState(m)
				}
			}
			out.Cases = append(out.Cases, cs)
		}
		if first+len(page) < len(matched) {
			out.NextCursor = lq.cursor(lq.keyOf(page[len(page)-1]))
		}
		return nil
	})
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "list cases: "+err.Error(), nil)
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

// Case list limits: a page holds at most maxPage cases; a query without a
// limit gets defaultPage, enough for a console's first screen and for
// scripts that list a quiet node in one call.
const (
	defaultPage  = 500
	maxPage      = 1000
	maxSearchLen = 200
)

var (
	listStates = map[string]bool{}
	listKinds  = map[string]bool{string(protocol.KindPreservation): true, string(protocol.KindEmergency): true,
		string(protocol.KindAssistance): true, string(protocol.KindEmergencyMLA): true}
	listUrgencies = map[string]int{"emergency": 0, "urgent": 1, "routine": 2}
	listSorts     = map[string]bool{"newest": true, "oldest": true, "updated": true, "urgency": true}
)

func init() {
	for _, st := range []protocol.State{protocol.StateOpen, protocol.StateAcknowledged, protocol.StatePostponed,
		protocol.StatePreserved, protocol.StateInsufficient, protocol.StateExtensionRequested, protocol.StateMLAPending,
		protocol.StateMLADecided, protocol.StateRefused, protocol.StateWithdrawn, protocol.StateReleased,
		protocol.StateDetermined, protocol.StateConditionsProposed, protocol.StateConditionsAccepted,
		protocol.StateConditionsRejected, protocol.StateDataProvided, protocol.StateAnswered, protocol.StateClosed,
		protocol.StateInfoRequested} {
		listStates[string(st)] = true
	}
}

// listQuery is a parsed GET /api/v1/cases query.
type listQuery struct {
	states        map[string]bool // any of these; empty: every state
	active        bool            // only cases not closed
	kind, country string
	urgency       string
	direction     string
	from, to      time.Time // created in [from, to)
	tag           string    // keyed hash of search, for identifiers
	search        string    // lower-case
	sort          string
	limit         int
	after         *listKey // the cursor's position
}

// listKey is a case's position in a sort order. Rank and T are the sort's
// fields; the ID breaks ties so every case has one place.
type listKey struct {
	Sort string    `json:"s"`
	Rank int       `json:"r,omitempty"`
	T    time.Time `json:"t"`
	ID   string    `json:"id"`
}

func parseListQuery(q url.Values, identifierKey []byte) (listQuery, []protocol.FieldError) {
	lq := listQuery{states: map[string]bool{}, sort: "newest", limit: defaultPage}
	var ferrs []protocol.FieldError
	bad := func(field, msg string) { ferrs = append(ferrs, protocol.FieldError{Field: field, Message: msg}) }
	if v := q.Get("state"); v != "" {
		for _, st := range strings.Split(v, ",") {
			switch {
			case st == "active":
				lq.active = true
			case listStates[st]:
				lq.states[st] = true
			default:
				bad("state", "unknown state "+strconv.Quote(st))
			}
		}
	}
	if v := q.Get("kind"); v != "" && !listKinds[v] {
		bad("kind", "must be preservation, emergency, assistance or emergency_mla")
	} else {
		lq.kind = v
	}
	if v := q.Get("urgency"); v != "" {
		if _, ok := listUrgencies[v]; !ok {
			bad("urgency", "must be emergency, urgent or routine")
		}
		lq.urgency = v
	}
	switch v := q.Get("direction"); v {
	case "", "incoming", "outgoing":
		lq.direction = v
	default:
		bad("direction", "must be incoming or outgoing")
	}
	if v := q.Get("country"); v != "" {
		if !protocol.CountryCode(v).Valid() {
			bad("country", "must be a two-letter country code, upper case")
		}
		lq.country = v
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
		end  bool
	}{{"from", &lq.from, false}, {"to", &lq.to, true}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			*f.dst = t
		} else if d, err := time.Parse(time.DateOnly, v); err == nil {
			if f.end { // a day given as the end includes that day
				d = d.AddDate(0, 0, 1)
			}
			*f.dst = d
		} else {
			bad(f.name, "must be a date (YYYY-MM-DD) or a UTC time (2006-01-02T15:04:05Z)")
		}
	}
	if !lq.from.IsZero() && !lq.to.IsZero() && !lq.from.Before(lq.to) {
		bad("to", "must be after from")
	}
	if v := strings.TrimSpace(q.Get("q")); len(v) > maxSearchLen {
		bad("q", "at most "+strconv.Itoa(maxSearchLen)+" characters")
	} else {
		lq.search = strings.ToLower(v)
		if v != "" && len(identifierKey) > 0 {
			lq.tag = protocol.IdentifierTag(identifierKey, v)
		}
	}
	if v := q.Get("sort"); v != "" {
		if !listSorts[v] {
			bad("sort", "must be newest, oldest, updated or urgency")
		}
		lq.sort = v
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			bad("limit", "must be a number from 1 to "+strconv.Itoa(maxPage))
		}
		lq.limit = n
	}
	if v := q.Get("cursor"); v != "" {
		var k listKey
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err == nil {
			err = json.Unmarshal(b, &k)
		}
		switch {
		case err != nil || !protocol.ValidID(k.ID):
			bad("cursor", "is not a cursor this node gave")
		case k.Sort != lq.sort:
			bad("cursor", "belongs to sort "+strconv.Quote(k.Sort)+"; give the same sort")
		default:
			lq.after = &k
		}
	}
	return lq, ferrs
}

func (lq *listQuery) match(c *store.Case) bool {
	switch {
	case len(lq.states) > 0 && !lq.states[c.State]:
		return false
	case lq.active && (!c.ClosedAt.IsZero() || c.State == string(protocol.StateClosed)):
		return false
	case lq.kind != "" && c.Kind != lq.kind,
		lq.urgency != "" && c.Urgency != lq.urgency,
		lq.direction != "" && string(c.Direction) != lq.direction,
		lq.country != "" && c.Country != lq.country:
		return false
	case !lq.from.IsZero() && c.CreatedAt.Before(lq.from),
		!lq.to.IsZero() && !c.CreatedAt.Before(lq.to):
		return false
	}
	if lq.search == "" {
		return true
	}
	// Reference and IDs are what the store keeps in clear; the request's
	// identifiers stay sealed and are found by their keyed hash (an exact
	// match, case ignored).
	return strings.Contains(strings.ToLower(c.Reference), lq.search) || strings.HasPrefix(c.ID, lq.search) ||
		strings.HasPrefix(c.RequestID, lq.search) || (lq.tag != "" && slices.Contains(c.IdentifierTags, lq.tag))
}

// keyOf places c in the query's sort order.
func (lq *listQuery) keyOf(c *store.Case) listKey {
	k := listKey{Sort: lq.sort, ID: c.ID}
	switch lq.sort {
	case "newest", "oldest":
		k.T = c.CreatedAt
	case "updated":
		k.T = c.UpdatedAt
	case "urgency":
		// Open before closed, then emergency, urgent, routine, then the
		// nearest acknowledgement deadline (none: last).
		closed := !c.ClosedAt.IsZero() || c.State == string(protocol.StateClosed)
		rank, ok := listUrgencies[c.Urgency]
		if !ok {
			rank = 3
		}
		if closed {
			rank += 10
		}
		k.Rank = rank
		if !c.AckDueAt.IsZero() && c.AcknowledgedAt.IsZero() && !closed {
			k.T = c.AckDueAt
		} else {
			k.T = farFuture
		}
	}
	return k
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// less orders two keys of the query's sort; the newest ID first on ties.
func (lq *listQuery) less(a, b listKey) bool {
	switch lq.sort {
	case "oldest":
		if !a.T.Equal(b.T) {
			return a.T.Before(b.T)
		}
		return a.ID < b.ID
	case "urgency":
		if a.Rank != b.Rank {
			return a.Rank < b.Rank
		}
		if !a.T.Equal(b.T) {
			return a.T.Before(b.T)
		}
	default: // newest, updated
		if !a.T.Equal(b.T) {
			return a.T.After(b.T)
		}
	}
	return a.ID > b.ID
}

// cursor encodes k; it is opaque to callers.
func (lq *listQuery) cursor(k listKey) string {
	b, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(b)
}

// caseRole is this node's side in a case.
func caseRole(c *store.Case) protocol.Role {
	if c.Direction == store.Outgoing {
		return protocol.Requester
	}
	return protocol.Responder
}

func (s *Server) handleCase(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !protocol.ValidID(id) {
		WriteError(w, http.StatusBadRequest, "case id must be 32 hex characters", nil)
		return
	}
	var view types.CaseView
	contents := principalFrom(r).can(accounts.PermReadContents)
	err := s.d.Store.View(func(tx *store.ReadTx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		msgs, err := tx.Messages(c)
		if err != nil {
			return err
		}
		view.CaseSummary = s.summarize(c)
		view.Peer = c.Peer
		role := caseRole(c)
		view.Role = string(role)
		payloads := map[string][]byte{}
		for i, m := range msgs {
			mv := s.messageView(m, contents)
			if i == 0 {
				view.Delivery = mv.State
			}
			if m.Type == string(protocol.TypeAction) && mv.Payload != nil {
				payloads[m.ID] = mv.Payload
			}
			if m.Type == string(protocol.TypeRequest) && view.Request == nil {
				view.Request, mv.Payload = mv.Payload, nil
			}
			view.Messages = append(view.Messages, mv)
		}
		terms := c.LegalTerms()
		cs := protocol.Replay(terms, s.d.Cases.Events(c, msgs))
		view.Available, view.Legal = legalView(c, terms, cs, role)
		view.History = []types.HistoryEntry{}
		for _, h := range cs.History {
			he := types.HistoryEntry{MessageID: h.MessageID, By: string(h.By), At: h.At, From: string(h.From), To: string(h.To), Invalid: h.Invalid}
			if h.Meta.Action != "" {
				he.Action, he.Seq, he.Operator = string(h.Meta.Action), h.Meta.Seq, h.Meta.Operator
				if contents {
					he.Details = payloads[h.MessageID]
				}
			}
			view.History = append(view.History, he)
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		WriteError(w, http.StatusNotFound, "no case "+id, nil)
		return
	case err != nil:
		WriteError(w, http.StatusInternalServerError, "read case: "+err.Error(), nil)
		return
	}
	// Reading request contents is itself an auditable act (Protocol Art. 14).
	action := "case.viewed"
	if !contents {
		action = "case.viewed.metadata"
	}
	if err := s.audit(r.Context(), store.AuditRecord{Actor: ActorOf(r).String(), Action: action, CaseID: id}); err != nil {
		unaudited(w, "cannot record the access in the audit log", err)
		return
	}
	WriteJSON(w, http.StatusOK, view)
}

// legalView says what the law allows on the case now, from the replay of
// its actions under its terms (the state kept on a case stored before
// terms were kept may predate the current rules).
func legalView(c *store.Case, terms protocol.Terms, cs protocol.CaseState, role protocol.Role) ([]string, *types.LegalView) {
	lv := &types.LegalView{Terms: terms, Facts: cs.LegalFacts, Actions: map[string]types.ActionOptions{}}
	available := []string{}
	if c.PurgedAt.IsZero() {
		for _, a := range protocol.Available(terms, cs, role) {
			available = append(available, string(a))
			r, _ := protocol.RuleOf(a)
			opt := types.ActionOptions{Article: r.Article, Doc: r.Doc, Grounds: protocol.Grounds(terms, a)}
			if a == protocol.ActConfirmPreservation {
				opt.MinPeriodDays, opt.MaxPeriodDays = protocol.MinPreservationDays, terms.MaxDays()
			}
			if a == protocol.ActDetermine {
				opt.Grounds = protocol.Grounds(terms, protocol.ActRefuse)
			}
			lv.Actions[string(a)] = opt
		}
	}
	if !c.ExpiresAt.IsZero() {
		const layout = "2006-01-02 15:04 MST"
		if loc, err := protocol.LoadZone(terms.ResponderZone); err == nil {
			lv.ExpiresResponder = c.ExpiresAt.In(loc).Format(layout) + " (" + terms.ResponderZone + ")"
		}
		if loc, err := protocol.LoadZone(c.RequesterTimeZone); err == nil {
			lv.ExpiresRequester = c.ExpiresAt.In(loc).Format(layout) + " (" + c.RequesterTimeZone + ")"
		}
	}
	return available, lv
}

func (s *Server) messageView(m *store.Message, contents bool) types.MessageView {
	mv := types.MessageView{ID: m.ID, Type: m.Type, Direction: string(m.Direction), Country: m.Country,
		State: s.deliveryState(m), Attempts: m.Attempts, LastError: m.LastError, Flags: m.Flags, CreatedAt: m.CreatedAt,
		DeliveredAt: timePtr(m.DeliveredAt)}
	if m.Purged {
		return mv
	}
	env, err := protocol.ParseEnvelope(m.Envelope)
	if err != nil {
		mv.Flags = store.AddFlag(mv.Flags, "corrupt-envelope")
		return mv
	}
	if !contents {
		// Metadata only: the caller's role may not read request contents.
	} else if payload, err := s.d.Cases.Open(env); err == nil && json.Valid(payload) {
		mv.Payload = payload
	} else {
		mv.Flags = store.AddFlag(mv.Flags, "undecryptable")
	}
	if len(m.Receipt) > 0 {
		if rc, err := protocol.ParseReceipt(m.Receipt); err == nil {
			h := rc.MessageHash
			mv.Receipt = &types.ReceiptView{Receiver: rc.Receiver.String(), ReceivedAt: rc.ReceivedAt,
				MessageHash: hex.EncodeToString(h[:]), Signature: hex.EncodeToString(rc.Signature),
				Verified: rc.Verify(env) == nil}
		}
	}
	return mv
}

func (s *Server) handleAssign(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, ok := ReadBody(w, r)
	if !ok {
		return
	}
	var req struct {
		User string `json:"user"`
	}
	if err := json.Unmarshal(body, &req); err != nil || strings.TrimSpace(req.User) == "" {
		WriteError(w, http.StatusUnprocessableEntity, "give the user to assign", []protocol.FieldError{{Field: "user", Message: "is required"}})
		return
	}
	if s.d.Accounts != nil {
		if _, err := s.d.Accounts.User(req.User); err != nil {
			WriteError(w, http.StatusUnprocessableEntity, "no such user", []protocol.FieldError{{Field: "user", Message: "is not a console user"}})
			return
		}
	}
	now := s.d.Now().UTC()
	by := ActorOf(r).String()
	err := s.d.Store.Update(r.Context(), func(tx *store.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		prev := c.Assignee
		c.Assignee, c.UpdatedAt = req.User, now
		if err := tx.PutCase(c); err != nil {
			return err
		}
		return tx.Audit(store.AuditRecord{At: now, Actor: by, Action: "case.assigned", CaseID: id,
			Detail: "from " + prev + " to " + req.User})
	})
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, http.StatusNotFound, "no case "+id, nil)
		return
	} else if err != nil {
		WriteError(w, http.StatusServiceUnavailable, "NOT assigned: "+err.Error(), nil)
		return
	}
	s.d.Cases.Changed(id)
	WriteJSON(w, http.StatusOK, types.Assigned{Assignee: req.User})
}

func (s *Server) handleDrafts(w http.ResponseWriter, r *http.Request) {
	owner := principalFrom(r).Name
	var ds []*store.Draft
	if err := s.d.Store.View(func(tx *store.ReadTx) error {
		var err error
		ds, err = tx.Drafts(owner)
		return err
	}); err != nil {
		WriteError(w, http.StatusInternalServerError, "drafts: "+err.Error(), nil)
		return
	}
	out := types.DraftList{Drafts: make([]types.DraftRow, 0, len(ds))}
	for _, d := range ds {
		out.Drafts = append(out.Drafts, types.DraftRow{ID: d.ID, Kind: d.Kind, To: d.To, UpdatedAt: d.UpdatedAt})
	}
	sort.Slice(out.Drafts, func(i, j int) bool { return out.Drafts[i].UpdatedAt.After(out.Drafts[j].UpdatedAt) })
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleDraft(w http.ResponseWriter, r *http.Request) {
	owner, id := principalFrom(r).Name, r.PathValue("id")
	if !protocol.ValidID(id) {
		WriteError(w, http.StatusBadRequest, "draft id must be 32 hex characters", nil)
		return
	}
	switch r.Method {
	case http.MethodGet:
		var d *store.Draft
		err := s.d.Store.View(func(tx *store.ReadTx) error {
			var err error
			d, err = tx.Draft(owner, id)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			WriteError(w, http.StatusNotFound, "no draft "+id, nil)
			return
		} else if err != nil {
			WriteError(w, http.StatusInternalServerError, err.Error(), nil)
			return
		}
		if d.Sealed != "" {
			if s.drafts == nil {
				WriteError(w, http.StatusInternalServerError, "draft "+id+" is sealed and this node has no draft key", nil)
				return
			}
			if d.Doc, err = s.drafts.open(owner, id, d.Sealed); err != nil {
				WriteError(w, http.StatusInternalServerError, err.Error(), nil)
				return
			}
		}
		WriteJSON(w, http.StatusOK, DraftOf(d))
	case http.MethodPut:
		body, ok := ReadBody(w, r)
		if !ok {
			return
		}
		var in types.Draft
		if err := json.Unmarshal(body, &in); err != nil || len(in.Doc) == 0 || !json.Valid(in.Doc) {
			WriteError(w, http.StatusBadRequest, "draft must be {kind, to, doc}", nil)
			return
		}
		// The caller says what the draft is; the node says whose and when.
		d := store.Draft{ID: id, Owner: owner, Kind: in.Kind, To: in.To, Doc: in.Doc, UpdatedAt: s.d.Now().UTC()}
		if s.drafts != nil {
			sealed, err := s.drafts.seal(owner, id, in.Doc)
			if err != nil {
				WriteError(w, http.StatusServiceUnavailable, "draft NOT saved: "+err.Error(), nil)
				return
			}
			d.Doc, d.Sealed = nil, sealed
		}
		if err := s.d.Store.Update(r.Context(), func(tx *store.Tx) error { return tx.PutDraft(&d) }); err != nil {
			WriteError(w, http.StatusServiceUnavailable, "draft NOT saved: "+err.Error(), nil)
			return
		}
		WriteJSON(w, http.StatusOK, types.DraftSaved{ID: id, UpdatedAt: d.UpdatedAt})
	case http.MethodDelete:
		if err := s.d.Store.Update(r.Context(), func(tx *store.Tx) error { tx.DeleteDraft(owner, id); return nil }); err != nil {
			WriteError(w, http.StatusServiceUnavailable, err.Error(), nil)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
