package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-network/vigil/node/config"
	"github.com/vigil-network/vigil/protocol"
)

// Roster signs the authority's draft with the next serial, installs it
// on one node and waits until every running node holds it.
type Roster struct {
	Via     string        `yaml:"via"` // default: the first running node
	Timeout time.Duration `yaml:"timeout"`
}

func (s *Roster) check(r *runner) error {
	if s.Via == "" {
		return nil
	}
	return r.checkLists(NodeList{s.Via})
}

func (s *Roster) run(ctx context.Context, r *runner) error {
	via := s.Via
	if via == "" {
		running := r.c.Running()
		if len(running) == 0 {
			return errors.New("no node runs to take the roster")
		}
		via = running[0]
	}
	via = strings.ToUpper(via)
	t0 := time.Now()
	serial, err := r.c.PushRoster(ctx, via, nil)
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	if err := r.waitSerial(ctx, serial, timeout); err != nil {
		return err
	}
	r.logf("roster serial %d pushed to %s, on every running node after %s", serial, via, time.Since(t0).Round(time.Millisecond))
	return nil
}

// RotateKey rotates a node's encryption key the way an operator and
// the authority would: the node stops (if running), a new X25519 key is
// generated in its keys directory, the authority signs a roster with the
// new key and the old one as previous_encryption_key (accepted for
// grace), pushes it through another node and waits for the running nodes
// to hold it; the node's config gets the new key, the old one under
// previous_encryption_keys (to open envelopes sealed to it), and it starts.
type RotateKey struct {
	Node  string        `yaml:"node"`
	Via   string        `yaml:"via"`
	Grace time.Duration `yaml:"grace"` // default 1h
}

func (k *RotateKey) check(r *runner) error {
	if k.Node == "" || k.Via == "" || strings.EqualFold(k.Node, k.Via) {
		return errors.New("rotate_key needs node and a different via")
	}
	return r.checkLists(NodeList{k.Node}, NodeList{k.Via})
}

func (k *RotateKey) run(ctx context.Context, r *runner) error {
	cc, via := strings.ToUpper(k.Node), strings.ToUpper(k.Via)
	e, err := r.c.Entry(cc)
	if err != nil {
		return err
	}
	grace := k.Grace
	if grace <= 0 {
		grace = time.Hour
	}
	if r.c.Proc(cc) != nil {
		if err := r.c.StopNode(cc, 15*time.Second); err != nil {
			return err
		}
	}
	cfg, err := config.LoadConfig(e.Config)
	if err != nil {
		return err
	}
	rel, nk, err := newEncryptionKey(cfg)
	if err != nil {
		return fmt.Errorf("rotate %s's key: %w", cc, err)
	}
	// The node's new config is written and loaded before the network
	// learns the new key: a config the node cannot start with must not
	// leave the others sealing to a key nobody can use.
	prev := append(slices.Clone(cfg.PreviousEncryptionKeys), cfg.EncryptionKey)
	staged, err := stageKeyConfig(e.Config, rel, prev)
	if err != nil {
		return fmt.Errorf("rotate %s's key: %w", cc, err)
	}
	defer os.Remove(staged) // gone after the rename below
	until := time.Now().Add(grace).UTC().Truncate(time.Second)
	serial, err := r.c.PushRoster(ctx, via, func(ro *protocol.Roster) error {
		for i := range ro.Members {
			if m := &ro.Members[i]; m.Country == protocol.CountryCode(cc) {
				m.PreviousEncryptionKey, m.PreviousKeyUntil = m.EncryptionKey, &until
				m.EncryptionKey = protocol.EncodeKey(nk.Public)
				return nil
			}
		}
		return fmt.Errorf("%s is not in the roster draft", cc)
	})
	if err != nil {
		return err
	}
	if err := os.Rename(staged, e.Config); err != nil {
		return fmt.Errorf("rotate %s's key: install config: %w", cc, err)
	}
	if err := r.waitSerial(ctx, serial, time.Minute); err != nil {
		return err
	}
	d, err := r.startNode(ctx, cc)
	if err != nil {
		return err
	}
	r.logf("rotated %s's encryption key (roster serial %d via %s, old key accepted until %s); %s restarted with %s, healthy after %s",
		cc, serial, via, until.Format(time.RFC3339), cc, rel, d.Round(time.Millisecond))
	return nil
}

// newEncryptionKey generates a new encryption key in the node's keys
// directory, under the first free name keys/encryption-N.key (N from 2),
// and returns that name, relative to the node's directory, and the key.
func newEncryptionKey(cfg *config.Config) (string, protocol.EncryptionKey, error) {
	for i := 2; ; i++ {
		rel := fmt.Sprintf("keys/encryption-%d.key", i)
		if _, err := os.Stat(cfg.Path(rel)); err == nil {
			continue
		} else if !os.IsNotExist(err) {
			return "", protocol.EncryptionKey{}, err
		}
		if _, err := config.EnsureEncryptionKey(cfg.Path(rel)); err != nil {
			return "", protocol.EncryptionKey{}, err
		}
		k, err := config.LoadEncryptionKey(cfg.Path(rel))
		return rel, k, err
	}
}

// stageKeyConfig writes path's config with encryption_key set to current
// and previous_encryption_keys to previous, everything else (comments
// included) as it was, next to path, and checks that it loads with those
// keys. It returns the staged file's path.
func stageKeyConfig(path, current string, previous []string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("%s: not a YAML mapping", path)
	}
	var prevNode yaml.Node
	if err := prevNode.Encode(previous); err != nil {
		return "", err
	}
	prevNode.Style = yaml.FlowStyle
	setKey(doc.Content[0], "encryption_key", &yaml.Node{Kind: yaml.ScalarNode, Value: current})
	setKey(doc.Content[0], "previous_encryption_keys", &prevNode)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	staged := path + ".staged"
	if err := config.WriteFileAtomic(staged, out.Bytes(), 0o644); err != nil {
		return "", err
	}
	cfg, err := config.LoadConfig(staged)
	if err == nil && (cfg.EncryptionKey != current || !slices.Equal(cfg.PreviousEncryptionKeys, previous)) {
		err = errors.New("the keys did not take")
	}
	if err != nil {
		os.Remove(staged)
		return "", fmt.Errorf("staged config %s: %w", staged, err)
	}
	return staged, nil
}

// setKey sets key to v in a YAML mapping, adding it if absent.
func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.LineComment = m.Content[i+1].LineComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}
