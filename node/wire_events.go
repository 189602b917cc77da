package node

import "github.com/vigil-network/vigil/store"

// publishCase tells subscribers a case changed (forwarder for the write
// path until its parts publish to the hub themselves).
func (n *Node) publishCase(id string) { n.events.Case(id) }

// publishAlert tells subscribers an alert was raised.
func (n *Node) publishAlert(a *store.Alert) { n.events.Alert(a.ID) }
