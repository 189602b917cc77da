package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Draft is a request an operator is still composing. Drafts belong to one
// user and never leave the node.
type Draft struct {
	ID    string          `json:"id"`
	Owner string          `json:"owner"`
	Kind  string          `json:"kind"`
	To    string          `json:"to"`
	Doc   json.RawMessage `json:"doc"`
	// Sealed holds the document sealed with a node key instead of Doc
	// (node/api): drafts stored before sealing keep Doc in clear.
	Sealed    string    `json:"sealed,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

func draftKey(owner, id string) string { return "draft/" + owner + "/" + id }

// PutDraft stores or replaces a draft.
func (t *Tx) PutDraft(d *Draft) error { return t.setRecord(draftKey(d.Owner, d.ID), d) }

// DeleteDraft removes a draft.
func (t *Tx) DeleteDraft(owner, id string) { t.del(draftKey(owner, id)) }

// Draft returns one of owner's drafts.
func (r *ReadTx) Draft(owner, id string) (*Draft, error) {
	var d Draft
	if err := r.getRecord(draftKey(owner, id), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Drafts lists owner's drafts.
func (r *ReadTx) Drafts(owner string) ([]*Draft, error) {
	var out []*Draft
	err := r.scan("draft/"+owner+"/", false, func(_ string, v []byte) (bool, error) {
		var d Draft
		if err := decodeRecord(v, &d); err != nil {
			return false, fmt.Errorf("decode draft: %w", err)
		}
		out = append(out, &d)
		return true, nil
	})
	return out, err
}
