package node

import "github.com/vigil-network/vigil/node/authority"

// Forwarders to node/authority, so cmd/vigil and node/testnet compile until
// the coordinator switches them to authority.X.
const (
	AuthorityKeyFile = authority.KeyFile
	AuthorityPubFile = authority.PubFile
)

var (
	InitAuthority       = authority.Init
	LoadAuthorityKey    = authority.LoadKey
	LoadDraftRoster     = authority.LoadDraft
	ReadDraftForSigning = authority.ReadDraftForSigning
	SaveDraftRoster     = authority.SaveDraft
	AddMember           = authority.AddMember
	SignDraft           = authority.SignDraft
)
