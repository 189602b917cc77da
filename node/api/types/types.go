// Package types holds the API's requests and answers: what node/api sends
// and reads as JSON, and what its clients (the CLI, the test-network
// harness, node/api/client's users) decode. They are the API's own types,
// with explicit JSON tags, and nothing here comes from package store: a
// change to a stored record is never an API change
// (node/api TestNoStoreTypesInResponses). Where an answer was a JSON object
// built from a map, its fields are in key order, so the bytes on the wire
// are what they always were.
package types

import (
	"encoding/json"
	"time"

	"github.com/vigil-network/vigil/protocol"
)

// ErrorBody is every error answer: a message for a human, and the fields
// at fault when a document was refused.
type ErrorBody struct {
	Error  string                `json:"error"`
	Fields []protocol.FieldError `json:"fields,omitempty"`
}

// LoginRefused is the 401 of a login that needs its second factor.
type LoginRefused struct {
	Error        string `json:"error"`
	TOTPRequired bool   `json:"totp_required"`
}

// Health is GET /healthz.
type Health struct {
	ConnectedMembers int      `json:"connected_members"`
	Country          string   `json:"country"`
	Degraded         []string `json:"degraded,omitempty"`
	// Organisation is this node's member organisation in the roster, so
	// the console names its node even on the login page.
	Organisation     string    `json:"organisation,omitempty"`
	OtherMembers     int       `json:"other_members"`
	PeerID           string    `json:"peer_id"`
	RosterExpired    bool      `json:"roster_expired"`
	RosterSerial     uint64    `json:"roster_serial"`
	RosterValidUntil time.Time `json:"roster_valid_until"`
	Status           string    `json:"status"` // ok or degraded
}

// The headers of an idempotent submission (POST /api/v1/requests, issue
// 13): IdempotencyKeyHeader makes a retry land on the same request;
// IdempotentReplayedHeader marks an answer that is an earlier submission
// returned again.
const (
	IdempotencyKeyHeader     = "Idempotency-Key"
	IdempotentReplayedHeader = "Idempotent-Replayed"
)

// Submission is a request accepted into the outbox.
type Submission struct {
	CaseID    string `json:"case_id"`
	MessageID string `json:"message_id"`
	// Replayed says the answer is an earlier submission returned again
	// for the same Idempotency-Key. It travels as the response header
	// Idempotent-Replayed: true, not in the body.
	Replayed bool `json:"-"`
}

// ActResult is an action accepted into the outbox and the case's new state.
type ActResult struct {
	MessageID string `json:"message_id"`
	State     string `json:"state"`
}

// Validated is the answer to a request document that passed validation.
type Validated struct {
	OK bool `json:"ok"`
}

// CaseSummary is one row of the case list.
type CaseSummary struct {
	ID        string    `json:"id"`
	Direction string    `json:"direction"`
	Country   string    `json:"country"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	Delivery  string    `json:"delivery"` // transport state of the first message
	Urgency   string    `json:"urgency,omitempty"`
	Flags     []string  `json:"flags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	AckDueAt       *time.Time `json:"ack_due_at,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	Hold           bool       `json:"hold,omitempty"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
	PurgedAt       *time.Time `json:"purged_at,omitempty"`
	Assignee       string     `json:"assignee,omitempty"`
	// The requester's zone and office hours, beside the UTC times above.
	RequesterTimeZone    string `json:"requester_time_zone,omitempty"`
	RequesterOfficeHours string `json:"requester_office_hours,omitempty"`
	RequesterLocalTime   string `json:"requester_local_time,omitempty"`
	// Reference is the requesting authority's reference from the request.
	Reference string `json:"reference,omitempty"`
}

// CaseList is GET /api/v1/cases: one page of the cases that match the
// query, in its order. Fields stay in key order (views_test.go).
type CaseList struct {
	Cases []CaseSummary `json:"cases"`
	// Country is this node's own country, for the console's title.
	Country string `json:"country,omitempty"`
	// NextCursor, given back as ?cursor=, fetches the page after this one;
	// empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Total is how many cases match the filters, on every page.
	Total int `json:"total"`
}

// CaseView is a case with its messages and the request as sent.
type CaseView struct {
	CaseSummary
	Peer      string   `json:"peer"`
	Role      string   `json:"role"` // requester or responder: this node's side
	Available []string `json:"available_actions"`
	// Legal is what the law allows on the case: its treaty basis, the facts
	// the rules keep, and for each available action its grounds and limits.
	Legal    *LegalView      `json:"legal,omitempty"`
	Request  json.RawMessage `json:"request,omitempty"`
	History  []HistoryEntry  `json:"history"`
	Messages []MessageView   `json:"messages"`
}

// LegalView is the legal side of a case as both nodes derive it.
type LegalView struct {
	Terms protocol.Terms      `json:"terms"`
	Facts protocol.LegalFacts `json:"facts"`
	// Actions describes each available action: the article it comes from
	// and, where it takes one, the grounds the treaty basis allows.
	Actions map[string]ActionOptions `json:"actions"`
	// ExpiresLocal is the preservation expiry in the requested state's zone
	// and in the requester's.
	ExpiresResponder string `json:"expires_responder,omitempty"`
	ExpiresRequester string `json:"expires_requester,omitempty"`
}

// ActionOptions is what an operator needs to fill one action in.
type ActionOptions struct {
	Article       string            `json:"article,omitempty"`
	Doc           string            `json:"doc"`
	Grounds       []protocol.Ground `json:"grounds,omitempty"`
	MinPeriodDays int               `json:"min_period_days,omitempty"`
	MaxPeriodDays int               `json:"max_period_days,omitempty"`
}

// MessageView is a message as the API shows it.
type MessageView struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Direction   string          `json:"direction"`
	Country     string          `json:"country"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	LastError   string          `json:"last_error,omitempty"`
	Flags       []string        `json:"flags,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	DeliveredAt *time.Time      `json:"delivered_at,omitempty"`
	Receipt     *ReceiptView    `json:"receipt,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}

// ReceiptView is a signed receipt, decoded and re-verified.
type ReceiptView struct {
	Receiver    string    `json:"receiver"`
	ReceivedAt  time.Time `json:"received_at"`
	MessageHash string    `json:"message_hash"`
	Signature   string    `json:"signature"`
	Verified    bool      `json:"verified"`
}

// HistoryEntry is one action in the order both nodes apply it.
type HistoryEntry struct {
	MessageID string          `json:"message_id"`
	By        string          `json:"by"`
	At        time.Time       `json:"at"`
	Action    string          `json:"action"`
	Seq       uint64          `json:"seq"`
	Operator  string          `json:"operator,omitempty"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Invalid   string          `json:"invalid,omitempty"`
	Details   json.RawMessage `json:"details,omitempty"`
}

// Assigned is the answer to POST /api/v1/cases/{id}/assign.
type Assigned struct {
	Assignee string `json:"assignee"`
}

// PeerView is a roster member with its live connection state.
type PeerView struct {
	Country      string     `json:"country"`
	Organisation string     `json:"organisation"`
	PeerID       string     `json:"peer_id"`
	Self         bool       `json:"self"`
	Connected    bool       `json:"connected"`
	LastSeen     *time.Time `json:"last_seen,omitempty"`
	RTTMillis    float64    `json:"rtt_ms,omitempty"`
	Outbox       int        `json:"outbox"`
	TimeZone     string     `json:"time_zone"`
	OfficeHours  string     `json:"office_hours"`
	Languages    []string   `json:"languages"`
	Phone        string     `json:"fallback_phone"`
	Email        string     `json:"fallback_email"`
	// Quarantine is set while an admin has stopped accepting from the
	// member.
	Quarantine *QuarantineView `json:"quarantine,omitempty"`
	// The member's treaty basis as the signed roster records it: the
	// treaties it is Party to (none listed: a legacy entry, read as a
	// Budapest Party only), its reservations and declarations, and its
	// domestic preservation regime (docs/legal-model.md).
	Treaties     []protocol.Party             `json:"treaties"`
	Declarations []protocol.Declaration       `json:"declarations"`
	Preservation *protocol.PreservationRegime `json:"preservation,omitempty"`
}

// PeerList is GET /api/v1/peers.
type PeerList struct {
	Peers            []PeerView `json:"peers"`
	RosterSerial     uint64     `json:"roster_serial"`
	RosterValidUntil time.Time  `json:"roster_valid_until"`
}

// QuarantineView is a quarantined member, as the API shows it.
type QuarantineView struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// QuarantineResult is the answer to a quarantine or a release.
type QuarantineResult struct {
	Country     string          `json:"country"`
	Quarantine  *QuarantineView `json:"quarantine,omitempty"`
	Quarantined bool            `json:"quarantined"`
}

// RosterApplied is the answer to POST /api/v1/roster.
type RosterApplied struct {
	Members int    `json:"members"`
	Serial  uint64 `json:"serial"`
}

// Alert is a raised alert.
type Alert struct {
	ID        string    `json:"id"`
	CaseID    string    `json:"case_id,omitempty"`
	Kind      string    `json:"kind"`
	Severity  string    `json:"severity"`
	Country   string    `json:"country,omitempty"`
	Message   string    `json:"message"`
	DueAt     time.Time `json:"due_at,omitzero"`
	RaisedAt  time.Time `json:"raised_at"`
	Count     int       `json:"count,omitempty"`
	Announced int       `json:"announced,omitempty"`
	Cleared   bool      `json:"cleared,omitempty"`
	ClearedAt time.Time `json:"cleared_at,omitzero"`
}

// AlertList is GET /api/v1/alerts.
type AlertList struct {
	Alerts []Alert `json:"alerts"`
}

// AuditRecord is one record of the audit log.
type AuditRecord struct {
	Seq         uint64    `json:"seq"`
	At          time.Time `json:"at"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`
	CaseID      string    `json:"case_id,omitempty"`
	MessageID   string    `json:"message_id,omitempty"`
	MessageHash string    `json:"message_hash,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	PrevHash    string    `json:"prev_hash"`
}

// AuditRecords is GET /api/v1/audit: newest first.
type AuditRecords struct {
	Records []AuditRecord `json:"records"`
}

// AuditReport is the outcome of checking the whole audit log.
type AuditReport struct {
	Records          uint64      `json:"records"`
	Root             string      `json:"root"`
	Checkpoints      int         `json:"checkpoints"`
	LatestCheckpoint *Checkpoint `json:"latest_checkpoint"`
	OK               bool        `json:"ok"`
	FirstProblem     string      `json:"first_problem"`
	ProblemSeq       uint64      `json:"problem_seq"`
}

// Checkpoint is a signed tree head of the audit log.
type Checkpoint struct {
	Size      uint64    `json:"size"`
	Root      []byte    `json:"root"` // base64 in JSON
	Time      time.Time `json:"time"`
	Signer    string    `json:"signer"`
	Signature []byte    `json:"signature"` // base64 in JSON
}

// Draft is a request document being written, kept per user.
type Draft struct {
	ID        string          `json:"id"`
	Owner     string          `json:"owner"`
	Kind      string          `json:"kind"`
	To        string          `json:"to"`
	Doc       json.RawMessage `json:"doc"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// DraftRow is one draft in the list, without its document.
type DraftRow struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	To        string    `json:"to"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DraftList is GET /api/v1/drafts: the caller's drafts, newest first.
type DraftList struct {
	Drafts []DraftRow `json:"drafts"`
}

// DraftSaved is the answer to PUT /api/v1/drafts/{id}.
type DraftSaved struct {
	ID        string    `json:"id"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Stats are counts for oversight bodies: no personal data, no contents.
type Stats struct {
	ByCountry  map[string]int `json:"by_country"`
	ByKind     map[string]int `json:"by_kind"`
	ByOutcome  map[string]int `json:"by_outcome"`
	ByState    map[string]int `json:"by_state"`
	AckMinutes struct {
		Count  int     `json:"count"`
		Median float64 `json:"median"`
		P90    float64 `json:"p90"`
	} `json:"ack_minutes"`
}

// Me is the caller: GET /api/v1/me and the answer to a login.
type Me struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	CSRFToken   string `json:"csrf_token,omitempty"`
	TOTPEnabled bool   `json:"totp_enabled"`
}

// User is what may be shown of a console user: everything but its secrets.
type User struct {
	Name          string    `json:"name"`
	Role          string    `json:"role"`
	ContentAccess bool      `json:"content_access"`
	Disabled      bool      `json:"disabled"`
	TOTPEnabled   bool      `json:"totp_enabled"`
	FailedLogins  int       `json:"failed_logins"`
	LockedUntil   time.Time `json:"locked_until,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// UserList is GET /api/v1/users.
type UserList struct {
	Users []User `json:"users"`
}

// Token is what may be shown of a personal API token: never its secret.
type Token struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// TokenList is GET /api/v1/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// NewToken is a token just created, with its secret, shown this once.
type NewToken struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Note  string `json:"note"`
	Token string `json:"token"`
	User  string `json:"user"`
}

// TOTPEnrolment is the secret of a second factor being enrolled.
type TOTPEnrolment struct {
	OTPAuthURL string `json:"otpauth_url"`
	Secret     string `json:"secret"`
}

// TOTPEnabled is the answer to a confirmed second factor.
type TOTPEnabled struct {
	TOTPEnabled bool `json:"totp_enabled"`
}

// DrillRun is one drill: a round of pings, or a round of test requests.
type DrillRun struct {
	ID         string        `json:"id"`
	Kind       string        `json:"kind"`
	Actor      string        `json:"actor"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Reference  string        `json:"reference,omitempty"`
	DeadlineAt time.Time     `json:"deadline_at,omitzero"`
	Results    []DrillResult `json:"results"`
}

// DrillResult is one member's outcome in a drill run.
type DrillResult struct {
	Country        string    `json:"country"`
	PeerID         string    `json:"peer_id,omitempty"`
	Reachable      bool      `json:"reachable"`
	RTTMillis      float64   `json:"rtt_ms,omitempty"`
	Error          string    `json:"error,omitempty"`
	Failures       int       `json:"failures,omitempty"`
	CaseID         string    `json:"case_id,omitempty"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AckSeconds     float64   `json:"ack_seconds,omitempty"`
	Missed         bool      `json:"missed,omitempty"`
}

// PartitionRequest is the body of POST /api/v1/testing/partition: members
// to cut this node off from, by peer ID and/or country code.
type PartitionRequest struct {
	Peers     []string `json:"peers"`
	Countries []string `json:"countries"`
}

// Partitioned is the answer to a partition: every peer now cut off.
type Partitioned struct {
	Partitioned []string `json:"partitioned"`
}

// Healed is the answer to a heal: how many peers were cut off.
type Healed struct {
	Healed int `json:"healed"`
}

// ClockRequest is the body of POST /api/v1/testing/clock.
type ClockRequest struct {
	// Skew is a Go duration ("10m", "-90s"); "0s" restores the clock.
	Skew string `json:"skew"`
}

// ClockSet is the answer to a clock skew: the skew and the node's time.
type ClockSet struct {
	Now  time.Time `json:"now"`
	Skew string    `json:"skew"`
}

// DrillCountry is one member's line in the drill report.
type DrillCountry struct {
	Country string `json:"country"`
	// Latest reachability drill; absent if the member was never pinged.
	Reachable     *bool      `json:"reachable,omitempty"`
	RTTMillis     *float64   `json:"rtt_ms,omitempty"`
	LastPingAt    *time.Time `json:"last_ping_at,omitempty"`
	LastPingError string     `json:"last_ping_error,omitempty"`
	// PingFailures counts consecutive failed pings up to the latest.
	PingFailures int `json:"ping_failures"`
	// Response drills: latest and median time to human acknowledgement.
	AckSeconds       *float64 `json:"ack_seconds,omitempty"`
	AckMedianSeconds *float64 `json:"ack_median_seconds,omitempty"`
	DrillsSent       int      `json:"drills_sent"`
	Acknowledged     int      `json:"acknowledged"`
	Pending          int      `json:"pending"`
	Misses           int      `json:"misses"`
}

// DrillReport sums up the stored drill runs per member
// (GET /api/v1/drills/report).
type DrillReport struct {
	Countries []DrillCountry `json:"countries"`
	LastRun   *DrillRun      `json:"last_run,omitempty"`
}

// ResponseDrillRequest is the body of POST /api/v1/drills/response.
type ResponseDrillRequest struct {
	// Countries to drill; empty means every other member.
	Countries []string `json:"countries"`
	// Operator is named as the requesting person in the drill requests.
	Operator string `json:"operator,omitempty"`
}

// ResponseDrillStarted answers POST /api/v1/drills/response: the run and
// the case opened per country.
type ResponseDrillStarted struct {
	Run     DrillRun          `json:"run"`
	CaseIDs map[string]string `json:"case_ids"`
}
