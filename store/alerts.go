package store

import (
	"errors"
	"fmt"
	"time"
)

// AlertKind names the condition an alert is about (ack_overdue,
// expiry_7d, roster_expired, ...); node/alerts holds the catalogue.
type AlertKind string

// Severity says how urgently an operator must look.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Alert is something an operator must see: an overdue acknowledgement, a
// preservation about to expire, an expired roster. Alerts are keyed so the
// same condition is raised once.
type Alert struct {
	ID       string    `json:"id"` // case ID + "/" + kind, or a node-wide key
	CaseID   string    `json:"case_id,omitempty"`
	Kind     AlertKind `json:"kind"`     // the catalogue is node/alerts
	Severity Severity  `json:"severity"` // critical, warning, info
	Country  string    `json:"country,omitempty"`
	Message  string    `json:"message"` // metadata only, never request contents
	DueAt    time.Time `json:"due_at,omitzero"`
	RaisedAt time.Time `json:"raised_at"`
	// Count is how many conditions a summary alert stands for ("37
	// requests from NL overdue"); 0 for an alert about one thing.
	Count int `json:"count,omitempty"`
	// Announced is the count last sent to the operator's hooks and
	// console; a summary is announced again when its count doubles.
	Announced int       `json:"announced,omitempty"`
	Cleared   bool      `json:"cleared,omitempty"`
	ClearedAt time.Time `json:"cleared_at,omitzero"`
}

func alertKey(id string) string { return "alert/" + id }

// RaiseAlert stores an alert unless one with the same ID exists. It reports
// whether the alert is new.
func (t *Tx) RaiseAlert(a *Alert) (bool, error) {
	var old Alert
	err := t.getRecord(alertKey(a.ID), &old)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	return true, t.setRecord(alertKey(a.ID), a)
}

// PutAlert stores an alert, replacing one with the same ID (a summary
// whose count changed). It returns the alert it replaced, nil if none.
func (t *Tx) PutAlert(a *Alert) (*Alert, error) {
	var old Alert
	err := t.getRecord(alertKey(a.ID), &old)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, t.setRecord(alertKey(a.ID), a)
	case err != nil:
		return nil, err
	}
	return &old, t.setRecord(alertKey(a.ID), a)
}

// ClearAlert marks an alert resolved (the case was acknowledged, say).
func (t *Tx) ClearAlert(id string, at time.Time) error {
	var a Alert
	if err := t.getRecord(alertKey(id), &a); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if a.Cleared {
		return nil
	}
	a.Cleared, a.ClearedAt = true, at
	return t.setRecord(alertKey(id), &a)
}

// OpenAlertsWithPrefix lists the uncleared alerts whose ID starts with
// prefix (the scheduler's summaries).
func (t *Tx) OpenAlertsWithPrefix(prefix string) ([]*Alert, error) {
	var out []*Alert
	err := t.scan(alertKey(prefix), false, func(_ string, v []byte) (bool, error) {
		var a Alert
		if err := decodeRecord(v, &a); err != nil {
			return false, fmt.Errorf("decode alert: %w", err)
		}
		if !a.Cleared {
			out = append(out, &a)
		}
		return true, nil
	})
	return out, err
}

// Alerts lists alerts, open ones only unless all is set, newest first.
func (r *ReadTx) Alerts(all bool) ([]*Alert, error) {
	var out []*Alert
	err := r.scan("alert/", false, func(_ string, v []byte) (bool, error) {
		var a Alert
		if err := decodeRecord(v, &a); err != nil {
			return false, fmt.Errorf("decode alert: %w", err)
		}
		if all || !a.Cleared {
			out = append(out, &a)
		}
		return true, nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// Alert returns one alert by ID.
func (r *ReadTx) Alert(id string) (*Alert, error) {
	var a Alert
	if err := r.getRecord(alertKey(id), &a); err != nil {
		return nil, err
	}
	return &a, nil
}
