package types

// The kinds of drill run (DrillRun.Kind).
const (
	DrillReachability = "reachability" // signed pings to every member
	DrillResponse     = "response"     // test requests a human must acknowledge
)
