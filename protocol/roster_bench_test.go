package protocol_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/vigil-network/vigil/protocol"
)

// testnetRoster builds an unsigned roster of n members shaped like the one
// 'vigil testnet init' signs (node/testnet/testnet.go): one loopback TCP
// address per member, the same organisation, contact and office-hours
// strings, fresh identity and encryption keys. The country codes are
// synthetic (AA, AB, …) rather than the testnet's ISO list, which does not
// change the document's size or the work of verifying it.
func testnetRoster(tb testing.TB, n int) *protocol.Roster {
	tb.Helper()
	if n > 26*26 {
		tb.Fatalf("at most %d members", 26*26)
	}
	issued := testNow.Truncate(time.Second)
	r := &protocol.Roster{Network: "vigil-testnet", Serial: 1, IssuedAt: issued, ValidUntil: issued.Add(365 * 24 * time.Hour)}
	for i := range n {
		cc := string([]byte{byte('A' + i/26), byte('A' + i%26)})
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			tb.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		enc, err := protocol.GenerateEncryptionKey()
		if err != nil {
			tb.Fatal(err)
		}
		r.Members = append(r.Members, protocol.Member{
			Country:       protocol.CountryCode(cc),
			Organisation:  fmt.Sprintf("%s national 24/7 point of contact (test)", cc),
			PeerID:        id.String(),
			Addrs:         []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 40000+2*i)},
			EncryptionKey: protocol.EncodeKey(enc.Public),
			Languages:     []string{"en"},
			TimeZone:      "Europe/Paris",
			OfficeHours:   "Mon-Fri 08:00-18:00",
			FallbackPhone: fmt.Sprintf("+000 555 %04d", i),
			FallbackEmail: fmt.Sprintf("24-7@%s.example.org", strings.ToLower(cc)),
		})
	}
	r.SortMembers()
	return r
}

// BenchmarkVerifyRoster193 is one VerifyRoster per op on a signed roster
// of 193 members (a full UN-sized testnet): size check, JSON decode of
// the envelope, the authority's Ed25519 signature over the embedded body,
// strict decode of the body and Validate (every member's peer ID,
// encryption key and multiaddrs parsed). This is the protocol-level work a
// node does per roster document it receives; what the node does after
// accepting one (swapping it in, storing it, updating the gater) is not
// included.
func BenchmarkVerifyRoster193(b *testing.B) {
	const members = 193
	pub, priv := authorityKey(b)
	r := testnetRoster(b, members)
	doc, err := protocol.SignRoster(r, priv)
	if err != nil {
		b.Fatal(err)
	}
	// Check once, outside the loop, that the document is what we think.
	got, err := protocol.VerifyRoster(doc, pub)
	if err != nil {
		b.Fatal(err)
	}
	if len(got.Members) != members {
		b.Fatalf("verified roster has %d members, want %d", len(got.Members), members)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.VerifyRoster(doc, pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(doc)), "bytes/doc")
}
