// Package roster is the roster in force on a node and the way rosters
// spread between nodes.
//
// State holds the signed roster the node runs on and its file: it answers
// membership questions (the gater, the envelope opener, submit), replaces
// the roster only with a newer correctly signed one, and tells its
// subscribers (OnChange) of every replacement, in order.
//
// Gossip decides what to install and spreads it: the drop guard (a roster
// that drops this node or too many members is refused unless an admin
// forces it), the audit records and critical alerts of roster changes, both
// ends of the /vigil/roster exchange, the push after a change, the pull of a
// newer serial a peer claims, and a periodic anti-entropy check.
package roster
