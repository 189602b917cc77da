package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A README shell block runs as written unless the line before its fence is
// one of these HTML comments (invisible on GitHub):
//
//	<!-- readme-test: skip: REASON -->            not run; the reason is required
//	<!-- readme-test: background until "TEXT" --> started and left running (a
//	                                               second terminal) once it prints TEXT
//	<!-- readme-test: stdin "TEXT" -->            run with TEXT and a newline as
//	                                               standard input (a password prompt)
var readmeMarker = regexp.MustCompile(`^<!-- readme-test: (skip: (.+)|background until "([^"]+)"|stdin "([^"]+)") -->$`)

// maxReadmeSkips keeps skipping rare: raise it only with a reason in the
// README for the new block.
const maxReadmeSkips = 9

type readmeBlock struct {
	line             int // of the opening fence
	text             string
	skip, until, in  string
	background, used bool
}

func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks  []readmeBlock
		cur     *readmeBlock
		pending readmeBlock
		n       int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		case l == "```sh":
			b := pending
			b.line = n
			cur, pending = &b, readmeBlock{}
		case strings.HasPrefix(l, "<!-- readme-test"):
			m := readmeMarker.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("README line %d: malformed marker %q", n, l)
			}
			pending = readmeBlock{skip: m[2], until: m[3], background: m[3] != "", in: m[4], used: true}
		case pending.used && strings.TrimSpace(l) != "":
			t.Fatalf("README line %d: a readme-test marker must be right before a ```sh block", n)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// lockedBuffer collects a background block's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestREADMEWalkthrough runs the README's shell blocks in order, word for
// word, in a fresh copy of the repository's files, as one operator would in
// two terminals: variables set in one block are there in the next. The
// binary is this test binary (it runs main() when VIGIL_TEST_MAIN=1), put
// where the README's build command puts it, so the walkthrough does not
// compile vigil a second time.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node testnet")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the README's API examples use curl")
	}
	blocks := readmeBlocks(t, "../../README.md")
	clone := freshCopy(t)
	state := filepath.Join(t.TempDir(), "state")
	env := append(os.Environ(), "VIGIL_TEST_MAIN=1", "VIGIL_README_BIN="+os.Args[0], "READMETEST_STATE="+state)
	deadline := time.Now().Add(4 * time.Minute)
	var ran, skipped, background int
	for _, b := range blocks {
		where := fmt.Sprintf("README.md:%d", b.line)
		if b.skip != "" {
			skipped++
			t.Logf("%s: skipped (%s)", where, b.skip)
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: out of time for the walkthrough", where)
		}
		script := "set -a\n[ ! -f \"$READMETEST_STATE\" ] || . \"$READMETEST_STATE\"\nset -e\n" +
			// The one command not run as written: the binary is built already.
			strings.ReplaceAll(b.text, "go build -o vigil ./cmd/vigil", `cp "$VIGIL_README_BIN" vigil`)
		if !b.background {
			script += "export -p > \"$READMETEST_STATE\"\n"
		}
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir, cmd.Env = clone, env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if b.in != "" {
			cmd.Stdin = strings.NewReader(b.in + "\n")
		}
		if b.background {
			background++
			startBackground(t, where, cmd, b.until)
			continue
		}
		ran++
		out, err := runBounded(cmd, 90*time.Second)
		t.Logf("%s:\n%s\n%s", where, b.text, out)
		if err != nil {
			t.Fatalf("%s: %v\n%s", where, err, out)
		}
	}
	if ran < 10 || background != 1 {
		t.Fatalf("ran %d blocks and %d in the background; the README walkthrough is missing", ran, background)
	}
	if skipped > maxReadmeSkips {
		t.Fatalf("%d README blocks are skipped (at most %d): make them runnable", skipped, maxReadmeSkips)
	}
	checkNodeLogs(t, filepath.Join(clone, "testnet"))
	// What the walkthrough says it leaves behind.
	for _, f := range []string{"testnet/testnet.json", "fr-audit.jsonl", "answer.json"} {
		if fi, err := os.Stat(filepath.Join(clone, f)); err != nil || fi.Size() == 0 {
			t.Errorf("after the walkthrough, %s: %v", f, err)
		}
	}
}

// freshCopy copies the repository's tracked files, as they are in the
// working tree, into a new directory: a clone without a testnet or a
// binary.
func freshCopy(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or not a plain file
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, filepath.Join(dst, f), fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runBounded runs cmd (in its own process group) and kills the group if it
// takes longer than limit.
func runBounded(cmd *exec.Cmd, limit time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.String(), fmt.Errorf("still running after %s", limit)
	}
}

// startBackground starts a block that runs until Ctrl-C, waits for it to
// print until, and stops it with SIGINT (then SIGKILL) when the test ends.
func startBackground(t *testing.T, where string, cmd *exec.Cmd, until string) {
	t.Helper()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var waitErr error
	done := make(chan struct{}) // closed when the block has ended
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("%s: did not stop on Ctrl-C within 30 s", where)
		}
		t.Logf("%s (background):\n%s", where, out.String())
	})
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), until) {
		select {
		case <-done:
			t.Fatalf("%s: ended before printing %q: %v\n%s", where, until, waitErr, out.String())
		case <-limit:
			t.Fatalf("%s: did not print %q within 2 minutes:\n%s", where, until, out.String())
		case <-tick.C:
		}
	}
}

// checkNodeLogs reads the walkthrough's node logs as a person would: no
// logger name repeats a segment ("node.accounts.accounts"), and DE's log
// says which country sent the request, of which kind and urgency.
func checkNodeLogs(t *testing.T, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "node.log"))
	if len(logs) == 0 {
		t.Fatalf("no node.log under %s", dir)
	}
	var received bool
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(l), &e) != nil {
				continue // a line the process wrote before its logger
			}
			name, _ := e["logger"].(string)
			parts := strings.Split(name, ".")
			for i := 1; i < len(parts); i++ {
				if parts[i] == parts[i-1] {
					t.Errorf("%s: logger name %q repeats %q", path, name, parts[i])
				}
			}
			if e["msg"] == "envelope received" && e["country"] == "FR" && e["kind"] == "preservation" && e["urgency"] != nil {
				received = true
			}
		}
	}
	if !received {
		t.Errorf("no node log has an 'envelope received' line from FR with its kind and urgency")
	}
}
