package node

import (
	"context"
	"fmt"

	"github.com/vigil-network/vigil/node/api"
	"github.com/vigil-network/vigil/store"
)

// apiHandler builds the HTTP API (node/api) over this node.
func (n *Node) apiHandler() *api.Server { return api.New(n.apiDeps()) }

// SignAuditCheckpoint signs a checkpoint (tree head) of the audit log with
// the node's identity key if the log grew since the last one.
func (n *Node) SignAuditCheckpoint(ctx context.Context) (*store.Checkpoint, error) {
	return n.store.SignAuditCheckpoint(ctx, n.self.String(), n.key.Sign, n.now())
}

func (n *Node) verifyCheckpointSig(msg, sig []byte) bool {
	ok, err := n.key.GetPublic().Verify(msg, sig)
	return err == nil && ok
}

// VerifyAudit checkpoints the audit log, then checks all of it: the hash
// chain, the Merkle tree and every signed checkpoint.
func (n *Node) VerifyAudit(ctx context.Context) (*store.AuditReport, error) {
	if _, err := n.SignAuditCheckpoint(ctx); err != nil {
		return nil, fmt.Errorf("checkpoint audit log: %w", err)
	}
	var rep *store.AuditReport
	err := n.store.View(func(tx *store.ReadTx) error {
		var err error
		rep, err = tx.VerifyAuditLog(n.verifyCheckpointSig)
		return err
	})
	return rep, err
}
