package node

// Decryptions counts the envelope payloads this node has decrypted, so tests
// can prove that receiving an action costs the same however long its case.
func (n *Node) Decryptions() uint64 { return n.sealer.Decryptions() }
