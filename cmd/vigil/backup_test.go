package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-network/vigil/node/api/client"
	"github.com/vigil-network/vigil/node/api/types"
	"github.com/vigil-network/vigil/node/testnet"
)

// TestBackupUnderLoadRestoreElsewhere is issue 12's backup test. FR sends
// to DE; with DE down (so FR's outbox holds requests) and requests still
// being submitted to FR, vigil backup takes an online backup of FR. DE
// comes back and FR delivers everything; FR stops. The backup is restored
// into a new directory with FR's config and keys copied next to it (a new
// host), and started as a new process. The restored node passes vigil
// audit verify, holds every case acknowledged before the backup, and
// delivers again what was queued at backup time, which DE already holds:
// DE must hold every case exactly once.
func TestBackupUnderLoadRestoreElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("VIGIL_TEST_MAIN", "1")
	dir := t.TempDir()
	m, err := testnet.Init(testnet.InitOptions{Dir: filepath.Join(dir, "net"), Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	fr, de := m.Nodes[0], m.Nodes[1]
	req, err := os.ReadFile("../../configs/examples/preservation.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	procs := map[string]*testnet.Process{}
	start := func(e testnet.NodeEntry) {
		t.Helper()
		p, err := testnet.Start(ctx, os.Args[0], e)
		if err != nil {
			t.Fatalf("start %s: %v\n%s", e.Country, err, logTail(e, 4<<10))
		}
		procs[e.Country] = p
	}
	stop := func(cc string) {
		t.Helper()
		if err := procs[cc].Stop(15 * time.Second); err != nil {
			t.Fatalf("stop %s: %v", cc, err)
		}
		delete(procs, cc)
	}
	defer func() {
		for _, p := range procs {
			p.Kill()
		}
	}()
	start(fr)
	start(de)
	frAPI := client.New(fr.API, client.WithToken(fr.Token), client.WithTimeout(10*time.Second))

	var (
		mu       sync.Mutex
		accepted []string // in the order FR answered 201
	)
	submit := func() {
		t.Helper()
		id, code := submitOnce(frAPI, req)
		if code != http.StatusCreated {
			t.Errorf("submit to FR: HTTP %d", code)
			return
		}
		mu.Lock()
		accepted = append(accepted, id)
		mu.Unlock()
	}
	for i := 0; i < 10; i++ {
		submit()
	}
	waitDelivered(t, fr, 10)

	// A backup needs an admin: a supervisor's token is refused.
	if code := apiCall(t, fr, "POST", "/api/v1/users", []byte(`{"name":"sam","role":"supervisor","password":"correct horse battery staple 42"}`), nil); code/100 != 2 {
		t.Fatalf("add supervisor: HTTP %d", code)
	}
	var tok types.NewToken
	if code := apiCall(t, fr, "POST", "/api/v1/users/sam/tokens", []byte(`{"name":"cli"}`), &tok); code != http.StatusCreated {
		t.Fatalf("supervisor token: HTTP %d", code)
	}
	backups := filepath.Join(dir, "backups")
	if err := os.Mkdir(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := vigil(t, "backup", "--api", fr.API, "--token", tok.Token, "--out", filepath.Join(backups, "sam.backup"))
	if err == nil || !strings.Contains(out, "does not allow") || !strings.Contains(out, "admin") {
		t.Fatalf("supervisor's backup: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(backups); len(ents) != 0 {
		t.Fatalf("a refused backup left %d files", len(ents))
	}

	stop(de.Country)
	for i := 0; i < 10; i++ { // queued at FR: DE is down
		submit()
	}
	// Load: FR keeps accepting requests, from two clients, while the
	// backup is taken.
	const loaders, perLoader = 2, 40
	var load sync.WaitGroup
	for l := 0; l < loaders; l++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for i := 0; i < perLoader; i++ { // bounded: about 2 s
				submit()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	for {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 30 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), accepted...) // acknowledged before the backup began
	mu.Unlock()
	out, err = vigil(t, "backup", "--config", fr.Config, "--out", backups)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	t.Logf("vigil backup:\n%s", out)
	if !strings.Contains(out, "keys/") {
		t.Errorf("backup output does not say the keys are not in the backup:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(backups, "vigil-FR-*.backup"))
	if len(files) != 1 {
		t.Fatalf("backups: %v", files)
	}
	backup := files[0]
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// For scripts: --json says where the backup went.
	jsonOut := filepath.Join(dir, "scripted.backup")
	out, err = vigil(t, "backup", "--config", fr.Config, "--out", jsonOut, "--json")
	var said struct {
		File    string `json:"file"`
		Bytes   int64  `json:"bytes"`
		Country string `json:"country"`
	}
	if err != nil || json.Unmarshal([]byte(out), &said) != nil || said.File != jsonOut || said.Country != "FR" {
		t.Fatalf("backup --json: %v\n%s", err, out)
	}
	if fi, err := os.Stat(jsonOut); err != nil || fi.Size() != said.Bytes {
		t.Fatalf("backup --json said %d bytes; file: %v", said.Bytes, err)
	}
	if out, err := vigil(t, "backup", "--config", fr.Config, "--out", jsonOut); err == nil || !strings.Contains(out, "never overwritten") {
		t.Fatalf("backup over an existing file: %v\n%s", err, out)
	}
	if out, err := vigil(t, "backup", "--config", fr.Config, "--out", filepath.Join(dir, "no-such-dir")+"/"); err == nil || !strings.Contains(out, "no such file") {
		t.Fatalf("backup into a missing directory: %v\n%s", err, out)
	}
	load.Wait()
	mu.Lock()
	all := append([]string(nil), accepted...)
	mu.Unlock()
	if want := 20 + loaders*perLoader; len(all) != want {
		t.Fatalf("%d of %d submissions accepted", len(all), want)
	}

	// DE comes back; FR delivers everything, including what the backup
	// still holds as queued.
	start(de)
	waitDelivered(t, fr, len(all))
	stop(fr.Country)
	if out, err := vigil(t, "backup", "--config", fr.Config, "--out", backups); err == nil || !strings.Contains(out, "is the node running?") {
		t.Fatalf("backup of a stopped node: %v\n%s", err, out)
	}

	// A new host: FR's directory without its store, and the backup.
	host := filepath.Join(dir, "newhost")
	copyNodeDir(t, fr.Dir, host)
	data := filepath.Join(host, "data")
	// Refusals first: a damaged file, and a directory that is not empty.
	b, _ := os.ReadFile(backup)
	damaged := filepath.Join(dir, "damaged.backup")
	os.WriteFile(damaged, b[:len(b)-100], 0o600)
	if out, err := vigil(t, "restore", "--in", damaged, "--data-dir", data, "--profile", "small"); err == nil || !strings.Contains(out, "incomplete or damaged") {
		t.Fatalf("restore of a damaged backup: %v\n%s", err, out)
	}
	if out, err := vigil(t, "restore", "--in", filepath.Join(fr.Dir, "vigil.yaml"), "--data-dir", data); err == nil || !strings.Contains(out, "not a Vigil backup") {
		t.Fatalf("restore of a config file: %v\n%s", err, out)
	}
	if out, err := vigil(t, "restore", "--in", backup, "--data-dir", filepath.Join(fr.Dir, "data")); err == nil || !strings.Contains(out, "empty") {
		t.Fatalf("restore over FR's store: %v\n%s", err, out)
	}
	// The old host is gone: nothing of FR's directory is used from here on.
	if err := os.Rename(fr.Dir, fr.Dir+".gone"); err != nil {
		t.Fatal(err)
	}
	out, err = vigil(t, "restore", "--in", backup, "--data-dir", data, "--profile", "small")
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("vigil restore:\n%s", out)
	queued := regexp.MustCompile(`(\d+) messages queued`).FindStringSubmatch(out)
	if queued == nil {
		t.Fatalf("restore did not say how many messages are queued:\n%s", out)
	}
	if n, _ := strconv.Atoi(queued[1]); n < 10 {
		t.Fatalf("the backup holds %d queued messages; at least the 10 submitted while DE was down were queued", n)
	}

	restored := fr
	restored.Dir, restored.Config = host, filepath.Join(host, "vigil.yaml")
	start(restored)
	if out, err := vigil(t, "audit", "verify", "--config", restored.Config); err != nil || !strings.Contains(out, "audit log intact") {
		t.Fatalf("audit verify on the restored node: %v\n%s", err, out)
	}
	// The restored log ends with the record of the backup it came from.
	var recs types.AuditRecords
	if code := apiCall(t, restored, "GET", "/api/v1/audit?q=store.backup", nil, &recs); code != http.StatusOK {
		t.Fatalf("audit search: HTTP %d", code)
	}
	if len(recs.Records) != 1 || recs.Records[0].Actor != "user:node-admin" {
		t.Errorf("restored audit log holds %+v, want one store.backup by user:node-admin", recs.Records)
	}
	atFR := map[string]int{}
	for _, c := range listCases(t, restored) {
		atFR[c.ID]++
	}
	for _, id := range before {
		if atFR[id] != 1 {
			t.Errorf("case %s, acknowledged before the backup, is at the restored FR %d times", id, atFR[id])
		}
	}
	inAll := map[string]bool{}
	for _, id := range all {
		inAll[id] = true
	}
	for id := range atFR {
		if !inAll[id] {
			t.Errorf("restored FR holds case %s, which FR never accepted", id)
		}
	}
	// The restored outbox is delivered again; DE answers with the receipts
	// it already gave, and stores nothing twice.
	waitDelivered(t, restored, len(atFR))
	atDE := incomingCases(t, de)
	for _, id := range all {
		if atDE[id] != 1 {
			t.Errorf("case %s is at DE %d times, want exactly 1", id, atDE[id])
		}
	}
	if len(atDE) != len(all) {
		t.Errorf("DE holds %d incoming cases, FR accepted %d", len(atDE), len(all))
	}
	for id := range atFR {
		if n := requestMessages(t, de, id); n != 1 {
			t.Errorf("case %s at DE holds %d request messages, want 1", id, n)
		}
	}
	if len(atFR) <= len(before) {
		t.Logf("note: no request landed between the backup's call and its snapshot")
	}
	t.Logf("%d accepted, %d acknowledged before the backup, %d restored (%s queued), all at DE exactly once",
		len(all), len(before), len(atFR), queued[1])
}

// incomingCases counts the node's incoming cases by ID.
func incomingCases(t *testing.T, e testnet.NodeEntry) map[string]int {
	t.Helper()
	in := map[string]int{}
	for _, c := range listCases(t, e) {
		if c.Direction == "incoming" {
			in[c.ID]++
		}
	}
	return in
}

// requestMessages counts the request messages a case holds at the node.
func requestMessages(t *testing.T, e testnet.NodeEntry, caseID string) int {
	t.Helper()
	var view types.CaseView
	if code := apiCall(t, e, "GET", "/api/v1/cases/"+caseID, nil, &view); code != http.StatusOK {
		t.Fatalf("GET case %s at %s: HTTP %d", caseID, e.Country, code)
	}
	n := 0
	for _, m := range view.Messages {
		if m.Type == "request" {
			n++
		}
	}
	return n
}

// waitDelivered waits until the node's outgoing cases number at least n
// and are all delivered.
func waitDelivered(t *testing.T, e testnet.NodeEntry, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cs := listCases(t, e)
		delivered := 0
		for _, c := range cs {
			if c.Direction == "outgoing" && c.Delivery == "delivered" {
				delivered++
			}
		}
		if len(cs) >= n && delivered == len(cs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d outgoing cases delivered after 60 s\n%s", e.Country, delivered, len(cs), logTail(e, 4<<10))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// copyNodeDir copies a node's directory without its store and log: what
// an operator keeps apart from the backup (config, keys, roster).
func copyNodeDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if rel == "data" || rel == "node.log" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBackupCommandsAsDocumented parses the backup and restore command
// lines of the systemd unit and the README's "Backup and restore" with the
// real command tree: each names an existing command and only its flags.
func TestBackupCommandsAsDocumented(t *testing.T) {
	unit, err := os.ReadFile("../../configs/vigil-backup.service")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Backup and restore\n")
	if !ok {
		t.Fatal(`README has no "Backup and restore" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var lines []string
	for _, l := range strings.Split(string(unit), "\n") {
		if rest, ok := strings.CutPrefix(l, "ExecStart=/usr/local/bin/vigil "); ok {
			lines = append(lines, rest)
		}
	}
	for _, l := range strings.Split(section, "\n") {
		if rest, ok := strings.CutPrefix(l, "vigil "); ok {
			lines = append(lines, rest)
		}
	}
	want := map[string]bool{"backup": false, "restore": false}
	for _, l := range lines {
		args := strings.Fields(l)
		cmd, rest, err := newRootCmd().Find(args)
		if err != nil {
			t.Errorf("%q: %v", l, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%q: %v", l, err)
		}
		if cmd.Flags().NArg() != 0 {
			t.Errorf("%q: stray arguments %v", l, cmd.Flags().Args())
		}
		if _, ok := want[cmd.Name()]; ok {
			want[cmd.Name()] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("vigil %s is documented nowhere in the unit or the README section", name)
		}
	}
}
