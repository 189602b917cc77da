package alerts

import (
	"fmt"
	"time"

	"github.com/vigil-network/vigil/store"
)

// The alert kinds a node raises.
const (
	// AckOverdue: a request was not acknowledged within its deadline
	// (urgent and emergency: critical; routine: warning).
	AckOverdue store.AlertKind = "ack_overdue"
	// Expired: a preservation period ended without extension or MLA hold.
	Expired store.AlertKind = "expired"
	// RosterExpired: the roster in force is past valid_until.
	RosterExpired store.AlertKind = "roster_expired"
	// RosterRefused: a signed roster was refused by the drop guard.
	RosterRefused store.AlertKind = "roster_refused"
	// RosterForced: an administrator installed a roster past the guard.
	RosterForced store.AlertKind = "roster_forced"
	// PeerOverLimit: a member went over an admission limit.
	PeerOverLimit store.AlertKind = "peer_over_limit"
	// LoginLockout: an account was locked after failed logins.
	LoginLockout store.AlertKind = "login_lockout"
	// RefusedAction: a member sent an action the legal rules refuse, or a
	// request the two states share no treaty basis for. It is stored and
	// flagged, never applied.
	RefusedAction store.AlertKind = "refused_action"
	// HoldReview: retention under an MLA hold is due for review
	// (Protocol Art. 14(5)).
	HoldReview store.AlertKind = "hold_review"
	// DecisionOverdue: the requester's decision after an insufficiency
	// notice (Budapest Art. 29(6)) is past its deadline.
	DecisionOverdue store.AlertKind = "decision_overdue"
	// PostponementOver: a postponement (Budapest Art. 27(5)) reached its date.
	PostponementOver store.AlertKind = "postponement_over"
)

// Severities, re-exported beside the kinds they grade.
const (
	Critical = store.SeverityCritical
	Warning  = store.SeverityWarning
	Info     = store.SeverityInfo
)

// ExpiryWarning is the kind of the warning raised w before a preservation
// expires: expiry_7d, expiry_1d, or expiry_12h0m0s below a day.
func ExpiryWarning(w time.Duration) store.AlertKind {
	if w < 24*time.Hour {
		return store.AlertKind(fmt.Sprintf("expiry_%s", w))
	}
	return store.AlertKind(fmt.Sprintf("expiry_%dd", int(w.Hours()/24)))
}

// CaseAlertID is the ID of a case's alert of kind k: one per condition,
// so the same condition is raised once.
func CaseAlertID(caseID string, k store.AlertKind) string { return caseID + "/" + string(k) }
