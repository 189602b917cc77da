package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Drill kinds.
const (
	DrillReachability = "reachability" // signed pings to every member
	DrillResponse     = "response"     // test requests a human must acknowledge
)

// KeepDrillRuns is how many drill runs of each kind the store keeps; older
// ones are removed as new ones are written. Kinds are counted apart so that
// hourly reachability drills do not push out the rarer response drills.
const KeepDrillRuns = 100

// DrillRun is one drill: a round of pings, or a round of test requests.
type DrillRun struct {
	ID         string    `json:"id"` // time-ordered (protocol.NewID)
	Kind       string    `json:"kind"`
	Actor      string    `json:"actor"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Response drills: the reference sent and when an acknowledgement
	// counts as missed.
	Reference  string        `json:"reference,omitempty"`
	DeadlineAt time.Time     `json:"deadline_at,omitzero"`
	Results    []DrillResult `json:"results"`
}

// DrillResult is one member's outcome in a drill run. For a reachability
// drill Reachable means a verified pong came back; for a response drill it
// means a human acknowledged the test request.
type DrillResult struct {
	Country   string  `json:"country"`
	PeerID    string  `json:"peer_id,omitempty"`
	Reachable bool    `json:"reachable"`
	RTTMillis float64 `json:"rtt_ms,omitempty"` // send → verified pong
	Error     string  `json:"error,omitempty"`
	// Failures counts consecutive failed pings to the member up to and
	// including this one (0 when it answered).
	Failures int `json:"failures,omitempty"`

	CaseID         string    `json:"case_id,omitempty"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AckSeconds     float64   `json:"ack_seconds,omitempty"` // case created → acknowledged
	Missed         bool      `json:"missed,omitempty"`      // not acknowledged by the deadline
}

// Pending reports whether a response-drill result still awaits an
// acknowledgement or a miss.
func (r *DrillResult) Pending() bool {
	return r.CaseID != "" && r.AcknowledgedAt.IsZero() && !r.Missed
}

const drillPrefix = "drill/"

func drillKey(kind, id string) string { return drillPrefix + kind + "/" + id }

// PutDrillRun stores or replaces a drill run and removes the oldest runs of
// its kind beyond KeepDrillRuns.
func (t *Tx) PutDrillRun(run *DrillRun) error {
	if run.ID == "" || strings.Contains(run.ID, "/") {
		return fmt.Errorf("drill run id %q is invalid", run.ID)
	}
	if run.Kind != DrillReachability && run.Kind != DrillResponse {
		return fmt.Errorf("drill kind %q is invalid", run.Kind)
	}
	key := drillKey(run.Kind, run.ID)
	_, err := t.get(key)
	isNew := errors.Is(err, ErrNotFound)
	if err != nil && !isNew {
		return err
	}
	if err := t.setRecord(key, run); err != nil {
		return err
	}
	if !isNew {
		return nil
	}
	var keys []string
	if err := t.scan(drillPrefix+run.Kind+"/", false, func(k string, _ []byte) (bool, error) {
		if k != key {
			keys = append(keys, k)
		}
		return true, nil
	}); err != nil {
		return err
	}
	for i := 0; i < len(keys)+1-KeepDrillRuns; i++ {
		t.del(keys[i])
	}
	return nil
}

// NextDrillNumber numbers response drills, for their references.
func (t *Tx) NextDrillNumber() (uint64, error) { return t.nextSeq("drill") }

// DrillRun returns one drill run.
func (r *ReadTx) DrillRun(kind, id string) (*DrillRun, error) {
	var run DrillRun
	if err := r.getRecord(drillKey(kind, id), &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// DrillRuns lists the stored drill runs of one kind, or of every kind if
// kind is empty, oldest first.
func (r *ReadTx) DrillRuns(kind string) ([]*DrillRun, error) {
	prefix := drillPrefix
	if kind != "" {
		prefix += kind + "/"
	}
	var out []*DrillRun
	err := r.scan(prefix, false, func(_ string, v []byte) (bool, error) {
		var run DrillRun
		if err := decodeRecord(v, &run); err != nil {
			return false, fmt.Errorf("decode drill run: %w", err)
		}
		out = append(out, &run)
		return true, nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// LatestDrillRun returns the newest stored run of a kind, or ErrNotFound.
func (r *ReadTx) LatestDrillRun(kind string) (*DrillRun, error) {
	var out *DrillRun
	err := r.scan(drillPrefix+kind+"/", true, func(_ string, v []byte) (bool, error) {
		out = &DrillRun{}
		if err := decodeRecord(v, out); err != nil {
			return false, fmt.Errorf("decode drill run: %w", err)
		}
		return false, nil
	})
	if err == nil && out == nil {
		err = ErrNotFound
	}
	return out, err
}
