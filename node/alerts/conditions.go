package alerts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-network/vigil/protocol"
	"github.com/vigil-network/vigil/store"
)

// Conditions lists the alerts case c is due at now: an overdue
// acknowledgement, an ended preservation, or a preservation within one of
// warnings of its expiry. A terminal case (protocol.Terminal) has none;
// a case under MLA hold has no expiry alerts. The alerts carry IDs, case,
// country and now as their raise time.
func Conditions(c *store.Case, now time.Time, warnings []time.Duration) []*store.Alert {
	var due []*store.Alert
	add := func(a *store.Alert) {
		a.CaseID, a.Country, a.RaisedAt = c.ID, c.Country, now
		a.ID = CaseAlertID(c.ID, a.Kind)
		due = append(due, a)
	}
	if slices.Contains(c.Flags, "invalid-transition") || slices.Contains(c.Flags, "no-treaty-basis") {
		add(&store.Alert{Kind: RefusedAction, Severity: Warning,
			Message: fmt.Sprintf("%s sent what the legal rules refuse (%s); it is kept and flagged, not applied", c.Country, strings.Join(c.Flags, ", "))})
	}
	// A hold outlives a withdrawal of the preservation request (Art.
	// 29(7)), so its review is due even on a case otherwise settled.
	if d := c.Legal.ReviewDueAt; c.Hold && !d.IsZero() && !now.Before(d) {
		add(&store.Alert{Kind: HoldReview, Severity: Warning, DueAt: d,
			Message: "retention under the MLA hold is due for review (Protocol Art. 14(5))"})
	}
	if terminal(c) {
		return due
	}
	if d := c.Legal.DecisionDueAt; !d.IsZero() && protocol.State(c.State) == protocol.StateInsufficient && !now.Before(d) {
		add(&store.Alert{Kind: DecisionOverdue, Severity: Warning, DueAt: d,
			Message: "the requester has not decided whether to proceed after the insufficiency notice (Budapest Art. 29(6))"})
	}
	if d := c.Legal.PostponedUntil; !d.IsZero() && protocol.State(c.State) == protocol.StatePostponed && !now.Before(d) {
		add(&store.Alert{Kind: PostponementOver, Severity: Warning, DueAt: d,
			Message: "the postponement has reached its date: resume or refuse with reasons (Budapest Art. 27(5), (7))"})
	}

	if !c.AckDueAt.IsZero() && c.AcknowledgedAt.IsZero() && !now.Before(c.AckDueAt) {
		who := "this node"
		if c.Direction == store.Outgoing {
			who = c.Country
		}
		sev := Critical
		if c.Urgency == "routine" {
			sev = Warning
		}
		add(&store.Alert{Kind: AckOverdue, Severity: sev, DueAt: c.AckDueAt,
			Message: fmt.Sprintf("%s %s request not acknowledged by %s within its deadline", c.Urgency, c.Kind, who)})
	}
	// Under the hold, and once the MLA request is decided, the period no
	// longer governs (Budapest Art. 29(7)): the data are released or handed
	// over on the decision.
	if c.ExpiresAt.IsZero() || c.Hold || protocol.State(c.State) == protocol.StateMLADecided {
		return due
	}
	if !now.Before(c.ExpiresAt) {
		add(&store.Alert{Kind: Expired, Severity: Critical, DueAt: c.ExpiresAt,
			Message: "preservation period has ended; data may be deleted"})
		return due
	}
	for _, w := range warnings {
		if now.Before(c.ExpiresAt.Add(-w)) {
			continue
		}
		add(&store.Alert{Kind: ExpiryWarning(w), Severity: Warning, DueAt: c.ExpiresAt,
			Message: fmt.Sprintf("preservation expires %s: extend it or submit the MLA request", c.ExpiresAt.Format(time.DateOnly))})
	}
	return due
}

// ClearMoot clears, in tx, the alerts that case c's current state makes
// moot: the acknowledgement alert once acknowledged, the expiry alerts once
// held for MLA, and all of them once terminal.
func ClearMoot(tx *store.Tx, c *store.Case, now time.Time, warnings []time.Duration) error {
	over := terminal(c)
	if !c.AcknowledgedAt.IsZero() || over {
		if err := tx.ClearAlert(CaseAlertID(c.ID, AckOverdue), now); err != nil {
			return err
		}
	}
	if !c.Hold {
		if err := tx.ClearAlert(CaseAlertID(c.ID, HoldReview), now); err != nil {
			return err
		}
	}
	if protocol.State(c.State) != protocol.StateInsufficient || over {
		if err := tx.ClearAlert(CaseAlertID(c.ID, DecisionOverdue), now); err != nil {
			return err
		}
	}
	if protocol.State(c.State) != protocol.StatePostponed || over {
		if err := tx.ClearAlert(CaseAlertID(c.ID, PostponementOver), now); err != nil {
			return err
		}
	}
	if c.Hold || over || protocol.State(c.State) == protocol.StateMLADecided {
		for _, w := range warnings {
			if err := tx.ClearAlert(CaseAlertID(c.ID, ExpiryWarning(w)), now); err != nil {
				return err
			}
		}
		return tx.ClearAlert(CaseAlertID(c.ID, Expired), now)
	}
	return nil
}

func terminal(c *store.Case) bool { return protocol.Terminal(protocol.State(c.State)) }
