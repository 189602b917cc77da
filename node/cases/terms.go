package cases

import (
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// termsFor derives a new case's terms from its request, made at at, and
// the roster in force: both nodes do this from the same signed roster, so
// they apply the same rules. requester and responder are country codes.
func (s *Service) termsFor(req protocol.Request, kind string, at time.Time, requester, responder protocol.CountryCode) *protocol.Terms {
	facts := protocol.RequestFacts{Kind: protocol.RequestKind(kind)}
	if req != nil {
		facts = protocol.RequestFactsOf(req)
	}
	member := func(cc protocol.CountryCode) protocol.Member {
		if _, m, ok := s.o.Directory.ByCountry(cc); ok {
			return m
		}
		return protocol.Member{Country: cc} // no longer listed: no treaty is assumed beyond the legacy rule
	}
	from, to := member(requester), member(responder)
	t := protocol.TermsFor(facts, at, from, to, s.o.Directory.Serial())
	return &t
}

// fillDefaults completes an action with what the node knows when the
// operator left it out: the requested state's usual period and today's
// start for a confirmation, and the configured deadlines for a decision
// after an insufficiency notice and the review of an MLA hold. It reports
// whether it changed anything.
func (s *Service) fillDefaults(a *protocol.Action, t protocol.Terms, now time.Time) bool {
	changed := false
	today := t.LocalDay(now)
	switch a.Action {
	case protocol.ActConfirmPreservation:
		if a.StartDate == "" {
			a.StartDate, changed = today.Format(time.DateOnly), true
		}
		if a.PeriodDays == 0 {
			if _, self, ok := s.o.Directory.ByCountry(protocol.CountryCode(s.o.Country)); ok && self.Preservation.PeriodDays > 0 {
				a.PeriodDays, changed = self.Preservation.PeriodDays, true
			}
		}
	case protocol.ActInsufficiency:
		if a.RespondBy == "" && s.o.Deadlines.InsufficiencyDecision > 0 {
			a.RespondBy, changed = now.Add(s.o.Deadlines.InsufficiencyDecision).UTC().Format(time.RFC3339), true
		}
	case protocol.ActMLAReceived, protocol.ActReviewHold:
		if a.ReviewBy == "" && s.o.Deadlines.HoldReview > 0 {
			a.ReviewBy, changed = t.LocalDay(now.Add(s.o.Deadlines.HoldReview)).Format(time.DateOnly), true
		}
	}
	return changed
}
