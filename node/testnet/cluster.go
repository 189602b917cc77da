package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigil-network/vigil/configs"
	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/authority"
	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

// Cluster runs a testnet's nodes as child processes and talks to them
// through their APIs with the node tokens from the manifest. The
// federation benchmark (node/bench/federation) and the scenario runner
// (node/testnet/scenario) drive it.
type Cluster struct {
	Dir string
	M   *Manifest
	Exe string
	// PerProcess is how many nodes StartAll runs in one process (group.go);
	// 0 or 1 runs each node in its own process.
	PerProcess int

	mu    sync.Mutex
	procs map[string]*Process
	http  *http.Client
}

// NewCluster prepares to run the testnet in dir with the vigil binary exe.
func NewCluster(dir, exe string) (*Cluster, error) {
	m, err := LoadManifest(dir)
	if err != nil {
		return nil, err
	}
	return &Cluster{Dir: dir, M: m, Exe: exe, procs: map[string]*Process{},
		// Many small calls to up to 193 APIs: keep connections, but not
		// so many idle ones that the harness holds thousands of sockets.
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 4, MaxIdleConns: 512, IdleConnTimeout: 30 * time.Second,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}}, nil
}

// Entry returns the manifest entry of a country.
func (c *Cluster) Entry(cc string) (NodeEntry, error) {
	for _, e := range c.M.Nodes {
		if e.Country == cc {
			return e, nil
		}
	}
	return NodeEntry{}, fmt.Errorf("no node %s in this testnet", cc)
}

// Countries lists the testnet's countries in manifest order.
func (c *Cluster) Countries() []string {
	out := make([]string, len(c.M.Nodes))
	for i, e := range c.M.Nodes {
		out[i] = e.Country
	}
	return out
}

// Proc returns the running process of a country, or nil.
func (c *Cluster) Proc(cc string) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[cc]
	if p != nil && p.Exited() {
		return nil
	}
	return p
}

// Running lists the countries whose process runs.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for cc, p := range c.procs {
		if !p.Exited() {
			out = append(out, cc)
		}
	}
	sort.Strings(out)
	return out
}

// StartNode starts a country's node and waits until it is healthy. It
// returns how long that took.
func (c *Cluster) StartNode(ctx context.Context, cc string) (time.Duration, error) {
	e, err := c.Entry(cc)
	if err != nil {
		return 0, err
	}
	if c.Proc(cc) != nil {
		return 0, fmt.Errorf("node %s is already running", cc)
	}
	t0 := time.Now()
	p, err := Start(ctx, c.Exe, e)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.procs[cc] = p
	c.mu.Unlock()
	return time.Since(t0), nil
}

// StartAll starts every node that is not running, PerProcess nodes to a
// process (one if PerProcess is 0 or 1; group.go), at most par processes
// at once, and returns each one's start-to-healthy time (for a group, until
// that node of the group answered).
func (c *Cluster) StartAll(ctx context.Context, par int) (map[string]time.Duration, error) {
	par, size := max(par, 1), max(c.PerProcess, 1)
	var pending []NodeEntry
	for _, e := range c.M.Nodes {
		if c.Proc(e.Country) == nil {
			pending = append(pending, e)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		took = map[string]time.Duration{}
		sem  = make(chan struct{}, par)
	)
	for len(pending) > 0 {
		g := pending[:min(size, len(pending))]
		pending = pending[len(g):]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return // interrupted: start nothing more
			}
			p, durs, err := StartGroup(ctx, c.Exe, g)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			c.mu.Lock()
			for i, e := range g {
				c.procs[e.Country] = p
				took[e.Country] = durs[i]
			}
			c.mu.Unlock()
		}()
	}
	wg.Wait()
	return took, errors.Join(errs...)
}

// Processes maps each running process to the number of nodes it runs
// (more than one for a group, group.go).
func (c *Cluster) Processes() map[*Process]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[*Process]int{}
	for _, p := range c.procs {
		if !p.Exited() {
			out[p]++
		}
	}
	return out
}

// StopNode sends SIGTERM and waits (SIGKILL after timeout). A node that
// shares its process with others (PerProcess > 1) stops with its group.
func (c *Cluster) StopNode(cc string, timeout time.Duration) error {
	p := c.Proc(cc)
	if p == nil {
		return fmt.Errorf("node %s is not running", cc)
	}
	return p.Stop(timeout)
}

// KillNode kills a node with SIGKILL, as a crash would.
func (c *Cluster) KillNode(cc string) error {
	p := c.Proc(cc)
	if p == nil {
		return fmt.Errorf("node %s is not running", cc)
	}
	p.Kill()
	return nil
}

// StopAll stops every running node with SIGTERM, at most par at once.
func (c *Cluster) StopAll(par int, timeout time.Duration) error {
	if par < 1 {
		par = 1
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, par)
	)
	for p := range c.Processes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := p.Stop(timeout); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", p.Entry.Country, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// KillAll kills every running node (cleanup after a failure).
func (c *Cluster) KillAll() {
	for p := range c.Processes() {
		p.Kill()
	}
}

// Orphans lists processes still running with a config from this testnet:
// after StopAll there must be none.
func (c *Cluster) Orphans() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i, a := range args {
			if a == "--config" && i+1 < len(args) && strings.HasPrefix(args[i+1], c.Dir+string(filepath.Separator)) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// Client returns a client for a country's node API, authenticated with
// the node's token from the manifest and sharing the cluster's connections.
func (c *Cluster) Client(cc string) (*client.Client, error) {
	e, err := c.Entry(cc)
	if err != nil {
		return nil, err
	}
	return client.New(e.API, client.WithToken(e.Token), client.WithHTTPClient(c.http)), nil
}

// Call sends an API request to a country's node with its token (in as
// client.Client.Do takes it: nil, raw JSON bytes or a value to encode) and
// decodes a 2xx JSON answer into out (if not nil). Any other answer is a
// *client.Error (status, method, path and the API's message), wrapped with
// the country.
func (c *Cluster) Call(ctx context.Context, cc, method, path string, in, out any) error {
	cl, err := c.Client(cc)
	if err != nil {
		return err
	}
	if _, err := cl.Do(ctx, method, path, in, out); err != nil {
		return fmt.Errorf("node %s: %w", cc, err)
	}
	return nil
}

// Health asks a node's /healthz.
func (c *Cluster) Health(ctx context.Context, cc string) (types.Health, error) {
	var h types.Health
	err := c.Call(ctx, cc, http.MethodGet, "/healthz", nil, &h)
	return h, err
}

// PeerState is a node's GET /api/v1/peers, with the count the harness
// waits on.
type PeerState struct {
	types.PeerList
}

// Connected counts the members a node shows as connected.
func (p *PeerState) Connected() int {
	n := 0
	for _, m := range p.Peers {
		if m.Connected {
			n++
		}
	}
	return n
}

// Peers asks a node for its view of the network.
func (c *Cluster) Peers(ctx context.Context, cc string) (*PeerState, error) {
	var p PeerState
	err := c.Call(ctx, cc, http.MethodGet, "/api/v1/peers", nil, &p.PeerList)
	return &p, err
}

// Examples are the request documents of configs/examples by kind.
type Examples map[string][]byte

// LoadExamples reads {preservation,emergency,assistance}.json from dir,
// or, if dir is "", the copies of configs/examples built into the binary
// (package configs).
func LoadExamples(dir string) (Examples, error) {
	fsys, from := configs.Examples, "built in"
	if dir != "" {
		fsys, from = os.DirFS(dir), dir
	}
	ex := Examples{}
	for _, k := range []string{"preservation", "emergency", "assistance"} {
		b, err := fs.ReadFile(fsys, k+".json")
		if err != nil {
			return nil, fmt.Errorf("example requests (%s): %w", from, err)
		}
		ex[k] = b
	}
	return ex, nil
}

// Kinds lists the example kinds in a fixed order.
func (ex Examples) Kinds() []string {
	out := make([]string, 0, len(ex))
	for k := range ex {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Request returns the example of a kind addressed to a country.
func (ex Examples) Request(kind, to string) ([]byte, error) {
	b, ok := ex[kind]
	if !ok {
		return nil, fmt.Errorf("no example request of kind %q (have %s)", kind, strings.Join(ex.Kinds(), ", "))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("example %s: %w", kind, err)
	}
	m["to"] = to
	return json.Marshal(m)
}

// Submit sends a request from one node and returns the case ID.
func (c *Cluster) Submit(ctx context.Context, from string, doc []byte) (string, error) {
	var sub types.Submission
	if err := c.Call(ctx, from, http.MethodPost, "/api/v1/requests", doc, &sub); err != nil {
		return "", err
	}
	return sub.CaseID, nil
}

// Cases lists all a node's cases (direction "", "incoming" or "outgoing"),
// following the list's cursor page by page.
func (c *Cluster) Cases(ctx context.Context, cc, direction string) ([]types.CaseSummary, error) {
	q := url.Values{"limit": {"1000"}}
	if direction != "" {
		q.Set("direction", direction)
	}
	var all []types.CaseSummary
	for {
		var out types.CaseList
		if err := c.Call(ctx, cc, http.MethodGet, "/api/v1/cases?"+q.Encode(), nil, &out); err != nil {
			return all, err
		}
		all = append(all, out.Cases...)
		if out.NextCursor == "" || len(out.Cases) == 0 {
			return all, nil
		}
		q.Set("cursor", out.NextCursor)
	}
}

// Case reads one case from a node.
func (c *Cluster) Case(ctx context.Context, cc, id string) (*types.CaseView, error) {
	var v types.CaseView
	err := c.Call(ctx, cc, http.MethodGet, "/api/v1/cases/"+url.PathEscape(id), nil, &v)
	return &v, err
}

// PushRoster signs the authority's draft with the next serial and installs
// it on one node, which spreads it to the others. It returns the serial.
// edit, if set, changes the draft first.
func (c *Cluster) PushRoster(ctx context.Context, via string, edit func(*protocol.Roster) error) (uint64, error) {
	authDir := filepath.Join(c.Dir, "authority")
	key, err := authority.LoadKey(filepath.Join(authDir, authority.KeyFile))
	if err != nil {
		return 0, err
	}
	draftPath := filepath.Join(authDir, "roster.draft.json")
	draft, err := authority.LoadDraft(draftPath)
	if err != nil {
		return 0, err
	}
	if edit != nil {
		if err := edit(draft); err != nil {
			return 0, err
		}
	}
	h, err := c.Health(ctx, via)
	if err != nil {
		return 0, err
	}
	doc, err := authority.SignDraft(draft, key, h.RosterSerial, 365*24*time.Hour, time.Now())
	if err != nil {
		return 0, fmt.Errorf("sign roster: %w", err)
	}
	if err := authority.SaveDraft(draftPath, draft); err != nil {
		return 0, err
	}
	if err := config.WriteFileAtomic(c.M.Roster, doc, 0o644); err != nil {
		return 0, err
	}
	if err := c.Call(ctx, via, http.MethodPost, "/api/v1/roster", doc, nil); err != nil {
		return 0, err
	}
	return draft.Serial, nil
}

// Pid is the node process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }
