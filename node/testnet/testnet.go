// Package testnet builds and runs local Vigil federations: one authority,
// N nodes with their own keys, stores and APIs on 127.0.0.1, and a signed
// roster they all trust. The network secretariat uses it for drills and
// developers for end-to-end tests.
package testnet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-network/vigil/node/authority"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

// ManifestFile is the name of the manifest in a testnet directory.
const ManifestFile = "testnet.json"

// Manifest lists a testnet's nodes; tools and tests read it.
type Manifest struct {
	AuthorityKey string      `json:"authority_key"` // base64 public key
	Roster       string      `json:"roster"`        // path of the signed roster
	Nodes        []NodeEntry `json:"nodes"`
}

// NodeEntry is one node of a testnet.
type NodeEntry struct {
	Country string `json:"country"`
	PeerID  string `json:"peer_id"`
	Config  string `json:"config"`
	API     string `json:"api"`
	Token   string `json:"token"`
	Dir     string `json:"dir"`
}

// InitOptions configures Init.
type InitOptions struct {
	Dir   string
	Nodes int
	// StoreProfile for every node; "small" unless set.
	StoreProfile string
	LogFormat    string
	// Transport is tcp (the default), quic or both: what each node
	// listens on and runs (nodeconfig.go).
	Transport string
	// LoadLimits raises every node's admission limits out of the way of
	// load tests (nodeconfig.go); otherwise nodes run production limits.
	LoadLimits bool
	// TreatyBases gives members, by country, a treaty basis of their own
	// (treaty.go); the others get DefaultTreatyBasis. An empty basis
	// lists no treaties: the entry is read as Budapest only, as a roster
	// written before treaties were recorded.
	TreatyBases map[string]TreatyBasis
}

// Init creates the authority key, N node directories, a signed roster
// copied into each node, and the manifest.
func Init(o InitOptions) (*Manifest, error) {
	if o.Nodes < 2 || o.Nodes > len(Countries) {
		return nil, fmt.Errorf("testnet init: --nodes must be between 2 and %d", len(Countries))
	}
	if o.StoreProfile == "" {
		o.StoreProfile = "small"
	}
	if o.LogFormat == "" {
		o.LogFormat = "json"
	}
	bases, err := treatyBases(o.TreatyBases, Countries[:o.Nodes])
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("testnet init: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		return nil, fmt.Errorf("testnet init: %s already holds a testnet; use a new directory", dir)
	}
	authDir := filepath.Join(dir, "authority")
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		return nil, fmt.Errorf("testnet init: %w", err)
	}
	pub, _, err := authority.Init(authDir)
	if err != nil {
		return nil, err
	}
	m := &Manifest{AuthorityKey: pub}
	draft := &protocol.Roster{Network: "vigil-testnet"}
	ports, err := freePorts(2 * o.Nodes)
	if err != nil {
		return nil, err
	}
	for i := 0; i < o.Nodes; i++ {
		cc := Countries[i]
		nd := filepath.Join(dir, cc)
		p2p, api := ports[2*i], ports[2*i+1]
		listen, err := testnetListen(o.Transport, p2p)
		if err != nil {
			return nil, err
		}
		res, err := config.Init(config.InitOptions{Dir: nd, Country: cc, AuthorityKey: pub,
			Listen:       listen,
			APIListen:    fmt.Sprintf("127.0.0.1:%d", api),
			StoreProfile: o.StoreProfile, LogFormat: o.LogFormat, Admission: testnetAdmission(o.LoadLimits)})
		if err != nil {
			return nil, fmt.Errorf("testnet init node %s: %w", cc, err)
		}
		if err := appendTestnetConfig(res.ConfigPath, o.Transport); err != nil {
			return nil, err
		}
		mem := res.Member
		mem.Organisation = fmt.Sprintf("%s national 24/7 point of contact (test)", cc)
		mem.Languages = []string{"en"}
		mem.TimeZone = timeZones[cc]
		if mem.TimeZone == "" {
			mem.TimeZone = "UTC"
		}
		mem.OfficeHours = "Mon-Fri 08:00-18:00"
		mem.FallbackPhone = fmt.Sprintf("+000 555 %04d", i)
		mem.FallbackEmail = fmt.Sprintf("24-7@%s.example.org", lower(cc))
		basis, ok := bases[cc]
		if !ok {
			basis = DefaultTreatyBasis()
		}
		basis.apply(&mem)
		if err := authority.CheckMember(mem); err != nil {
			return nil, fmt.Errorf("testnet init: %w", err)
		}
		authority.AddMember(draft, mem)
		m.Nodes = append(m.Nodes, NodeEntry{Country: cc, PeerID: res.PeerID.String(), Config: res.ConfigPath,
			API: fmt.Sprintf("http://127.0.0.1:%d", api), Token: res.Token, Dir: nd})
	}
	key, err := authority.LoadKey(filepath.Join(authDir, authority.KeyFile))
	if err != nil {
		return nil, err
	}
	if err := authority.SaveDraft(filepath.Join(authDir, "roster.draft.json"), draft); err != nil {
		return nil, err
	}
	doc, err := authority.SignDraft(draft, key, 0, 365*24*time.Hour, time.Now())
	if err != nil {
		return nil, fmt.Errorf("testnet init: sign roster: %w", err)
	}
	// Keep the draft's serial in step with what was signed.
	if err := authority.SaveDraft(filepath.Join(authDir, "roster.draft.json"), draft); err != nil {
		return nil, err
	}
	m.Roster = filepath.Join(authDir, "roster.json")
	if err := config.WriteFileAtomic(m.Roster, doc, 0o644); err != nil {
		return nil, err
	}
	for _, n := range m.Nodes {
		if err := config.WriteFileAtomic(filepath.Join(n.Dir, "roster.json"), doc, 0o644); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	// The manifest holds API tokens: owner-only.
	if err := config.WriteFileAtomic(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o600); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadManifest reads DIR/testnet.json.
func LoadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read testnet manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse testnet manifest: %w", err)
	}
	return &m, nil
}

func lower(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] >= 'A' && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// freePorts finds n distinct ports free for both TCP and UDP on 127.0.0.1.
// The listeners are held until all are found so no port is handed out twice.
func freePorts(n int) ([]int, error) {
	var held []func()
	defer func() {
		for _, c := range held {
			c()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n && tries < 50*n; tries++ {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		p := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			tl.Close()
			continue
		}
		held = append(held, func() { tl.Close(); ul.Close() })
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("find free ports: found %d of %d", len(ports), n)
	}
	return ports, nil
}
