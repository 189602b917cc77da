package testnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/vigil-network/vigil/protocol"
)

// TreatyBasis is a testnet member's treaty basis as its signed roster
// entry carries it (protocol.Member): the treaties it is Party to, its
// reservations and declarations, and its preservation regime.
type TreatyBasis struct {
	Treaties     []protocol.Party            `json:"treaties"`
	Declarations []protocol.Declaration      `json:"declarations,omitempty"`
	Preservation protocol.PreservationRegime `json:"preservation,omitzero"`
}

// DefaultTreatyBasis is what every testnet member is Party to unless
// InitOptions.TreatyBases says otherwise: the Budapest Convention and its
// Second Additional Protocol, from dates in the past, with no reservation
// or declaration, so preservation (Budapest Art. 29), emergency requests
// (Protocol Art. 9) and assistance (Art. 35) all run between any two
// nodes, as the README's quick start does. The dates are the Convention's
// entry into force and the Protocol's opening for signature; a testnet's
// states are not the real ones.
func DefaultTreatyBasis() TreatyBasis {
	return TreatyBasis{Treaties: []protocol.Party{
		{Treaty: protocol.TreatyBudapest, From: "2004-07-01"},
		{Treaty: protocol.TreatySecondProtocol, From: "2022-05-12"},
	}}
}

// apply writes the basis into a member entry.
func (b TreatyBasis) apply(m *protocol.Member) {
	m.Treaties = slices.Clone(b.Treaties)
	m.Declarations = slices.Clone(b.Declarations)
	m.Preservation = b.Preservation
}

// treatyBases checks that every country bases names is one of the
// testnet's, and returns the map keyed by upper-case code. A basis for a
// country the testnet does not have is a mistake in the test or file, and
// would silently test nothing.
func treatyBases(bases map[string]TreatyBasis, countries []string) (map[string]TreatyBasis, error) {
	out := make(map[string]TreatyBasis, len(bases))
	for cc, b := range bases {
		up := strings.ToUpper(strings.TrimSpace(cc))
		if !slices.Contains(countries, up) {
			return nil, fmt.Errorf("testnet init: treaty basis for %q, which is not one of this testnet's nodes (%s)", cc, strings.Join(countries, ", "))
		}
		out[up] = b
	}
	return out, nil
}

// LoadTreatyBases reads a JSON object of treaty bases by country
// ('vigil testnet init --treaty-bases FILE'), e.g.
//
//	{"NL": {"treaties": [{"treaty": "un", "from": "2026-01-01"}]},
//	 "DE": {"treaties": [{"treaty": "budapest", "from": "2009-07-01"}],
//	        "declarations": [{"kind": "budapest_29_4", "from": "2009-07-01"}]}}
//
// Unknown fields are refused, so a misspelt key is not silently dropped.
func LoadTreatyBases(path string) (map[string]TreatyBasis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read treaty bases: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var bases map[string]TreatyBasis
	if err := dec.Decode(&bases); err != nil {
		return nil, fmt.Errorf("parse treaty bases %s: %w", path, err)
	}
	return bases, nil
}
