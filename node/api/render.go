package api

import (
	"sync"
	"time"

	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/store"
)

// How stored records are shown: each converter copies a record into its
// API type field by field (TestResponsesKeepTheirJSON holds them to the
// JSON the records had).

// QuarantineViewOf shows a stored quarantine.
func QuarantineViewOf(q *store.Quarantine) *types.QuarantineView {
	return &types.QuarantineView{Reason: q.Reason, By: q.By, At: q.At}
}

// AlertOf shows a stored alert.
func AlertOf(a *store.Alert) types.Alert {
	return types.Alert{ID: a.ID, CaseID: a.CaseID, Kind: string(a.Kind), Severity: string(a.Severity), Country: a.Country, Message: a.Message,
		DueAt: a.DueAt, RaisedAt: a.RaisedAt, Count: a.Count, Announced: a.Announced, Cleared: a.Cleared, ClearedAt: a.ClearedAt}
}

// AuditRecordOf shows a stored audit record.
func AuditRecordOf(a *store.AuditRecord) types.AuditRecord {
	return types.AuditRecord{Seq: a.Seq, At: a.At, Actor: a.Actor, Action: a.Action, CaseID: a.CaseID,
		MessageID: a.MessageID, MessageHash: a.MessageHash, Detail: a.Detail, PrevHash: a.PrevHash}
}

// AuditReportOf shows a verification report.
func AuditReportOf(r *store.AuditReport) types.AuditReport {
	out := types.AuditReport{Records: r.Records, Root: r.Root, Checkpoints: r.Checkpoints, OK: r.OK,
		FirstProblem: r.FirstProblem, ProblemSeq: r.ProblemSeq}
	if cp := r.LatestCheckpoint; cp != nil {
		out.LatestCheckpoint = CheckpointOf(cp)
	}
	return out
}

// CheckpointOf shows a stored checkpoint.
func CheckpointOf(c *store.Checkpoint) *types.Checkpoint {
	return &types.Checkpoint{Size: c.Size, Root: c.Root, Time: c.Time, Signer: c.Signer, Signature: c.Signature}
}

// DraftOf shows a stored draft.
func DraftOf(d *store.Draft) types.Draft {
	return types.Draft{ID: d.ID, Owner: d.Owner, Kind: d.Kind, To: d.To, Doc: d.Doc, UpdatedAt: d.UpdatedAt}
}

// UserOf shows a stored user.
func UserOf(u *store.User) types.User {
	return types.User{Name: u.Name, Role: u.Role, ContentAccess: u.ContentAccess, Disabled: u.Disabled,
		TOTPEnabled: u.TOTPEnabled, FailedLogins: u.FailedLogins, LockedUntil: u.LockedUntil,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// TokenOf shows a stored token.
func TokenOf(t *store.Token) types.Token {
	return types.Token{ID: t.ID, User: t.User, Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt}
}

// DrillRunOf shows a stored drill run. The drill routes still answer
// from package node; they switch to it when they move here.
func DrillRunOf(r *store.DrillRun) types.DrillRun {
	out := types.DrillRun{ID: r.ID, Kind: r.Kind, Actor: r.Actor, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		Reference: r.Reference, DeadlineAt: r.DeadlineAt}
	if r.Results != nil { // null stays null
		out.Results = make([]types.DrillResult, 0, len(r.Results))
	}
	for _, x := range r.Results {
		out.Results = append(out.Results, types.DrillResult{Country: x.Country, PeerID: x.PeerID, Reachable: x.Reachable,
			RTTMillis: x.RTTMillis, Error: x.Error, Failures: x.Failures, CaseID: x.CaseID,
			AcknowledgedAt: x.AcknowledgedAt, AckSeconds: x.AckSeconds, Missed: x.Missed})
	}
	return out
}

// viewsOf shows each stored record with view; never nil, so an empty list
// is [] in JSON.
func viewsOf[R, V any](records []*R, view func(*R) V) []V {
	out := make([]V, 0, len(records))
	for _, r := range records {
		out = append(out, view(r))
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Summarize is a case's row in the list, with the requester's local time
// as of now. Delivery is left to the caller, who knows the first message.
func Summarize(c *store.Case, now time.Time) types.CaseSummary {
	cs := types.CaseSummary{ID: c.ID, Direction: string(c.Direction), Country: c.Country, Kind: c.Kind,
		State: c.State, Urgency: c.Urgency, Flags: c.Flags, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		AckDueAt: timePtr(c.AckDueAt), AcknowledgedAt: timePtr(c.AcknowledgedAt), ExpiresAt: timePtr(c.ExpiresAt),
		Hold: c.Hold, ClosedAt: timePtr(c.ClosedAt), Outcome: c.Outcome, PurgedAt: timePtr(c.PurgedAt), Assignee: c.Assignee,
		RequesterTimeZone: c.RequesterTimeZone, RequesterOfficeHours: c.RequesterOfficeHours, Reference: c.Reference}
	if c.RequesterTimeZone != "" {
		if loc, err := loadLocation(c.RequesterTimeZone); err == nil {
			cs.RequesterLocalTime = now.In(loc).Format("Mon 2006-01-02 15:04 MST")
		}
	}
	return cs
}

// zones caches time zones by name. time.LoadLocation reads and parses the
// tzdata file on every call (about 19 µs and a dozen allocations each,
// measured on the CI machine with Go 1.26), and the case list summarises
// every case; cached, a lookup is a map read. Only zones that loaded are
// kept, so the cache is bounded by the tz database (~600 names).
var zones sync.Map

func loadLocation(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err == nil {
		zones.Store(name, l)
	}
	return l, err
}
