package types

import "time"

// The kinds of drill run (DrillRun.Kind).
const (
	DrillReachability = "reachability" // signed pings to every member
	DrillResponse     = "response"     // test requests a human must acknowledge
)

// ResponseDrillRequest is the body of POST /api/v1/drills/response.
type ResponseDrillRequest struct {
	// Countries to drill; empty means every other member.
	Countries []string `json:"countries"`
	// Operator is named as the requesting person in the drill requests.
	Operator string `json:"operator,omitempty"`
}

// ResponseDrillStarted is the answer to a response drill: the run, and
// the case opened at each member it reached.
type ResponseDrillStarted struct {
	CaseIDs map[string]string `json:"case_ids"`
	Run     DrillRun          `json:"run"`
}

// DrillReport is GET /api/v1/drills/report: the stored drill runs summed
// up per member.
type DrillReport struct {
	Countries []DrillCountry `json:"countries"`
	LastRun   *DrillRun      `json:"last_run,omitempty"`
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
