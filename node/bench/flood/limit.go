package flood

import "github.com/vigil-network/vigil/node"

// deliverLimit is the victim's per-peer /vigil/deliver rate limit in
// envelopes per second, 0 if it has none.
func deliverLimit(cfg *node.Config) float64 {
	return cfg.Admission.Deliver.PerSecond
}
