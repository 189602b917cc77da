// Package alerts is what a node tells its operators must be seen: the
// catalogue of alert kinds and severities, the conditions on a case that
// raise one and the case states that make one moot, and the webhook and
// command hooks that carry new alerts off the node.
package alerts
