package actor

import "testing"

func TestActorSpelling(t *testing.T) {
	// The spellings are stored in audit logs already written: they must
	// never change.
	for _, c := range []struct {
		a          Actor
		want, name string
		kind       Kind
	}{
		{User("alice"), "user:alice", "alice", KindUser},
		{User("node-admin"), "user:node-admin", "node-admin", KindUser},
		{Peer("DE"), "peer:DE", "DE", KindPeer},
		{Peer("12D3KooWabc"), "peer:12D3KooWabc", "12D3KooWabc", KindPeer},
		{Node, "node", "", KindNode},
		{Unknown, "unknown", "", KindUnknown},
		{Actor("something else"), "something else", "", KindUnknown},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%q.String() = %q, want %q", c.a, got, c.want)
		}
		if got := c.a.Kind(); got != c.kind {
			t.Errorf("%q.Kind() = %q, want %q", c.a, got, c.kind)
		}
		if got := c.a.Name(); got != c.name {
			t.Errorf("%q.Name() = %q, want %q", c.a, got, c.name)
		}
	}
}
