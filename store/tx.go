package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// ReadTx is a read-only view of the store.
type ReadTx struct{ txn *badger.Txn }

func (r *ReadTx) get(key string) ([]byte, error) {
	item, err := r.txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return item.ValueCopy(nil)
}

func (r *ReadTx) getRecord(key string, v any) error {
	b, err := r.get(key)
	if err != nil {
		return err
	}
	if err := decodeRecord(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// scan calls fn for each key with prefix, in key order (reverse if asked).
func (r *ReadTx) scan(prefix string, reverse bool, fn func(key string, val []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(prefix)
	opts.Reverse = reverse
	it := r.txn.NewIterator(opts)
	defer it.Close()
	start := []byte(prefix)
	if reverse {
		start = append([]byte(prefix), 0xff)
	}
	for it.Seek(start); it.ValidForPrefix([]byte(prefix)); it.Next() {
		item := it.Item()
		val, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("scan %s: %w", prefix, err)
		}
		more, err := fn(string(item.Key()), val)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Tx is a write transaction. Writes are buffered and reach Badger only if
// the function given to Update returns nil, so a failed write is never half
// applied. Reads see the transaction's own buffered writes.
type Tx struct {
	ReadTx
	pending map[string][]byte // nil value = delete
	order   []string
	// openCase is Options.OpenCase: PutCase keeps the open-case index.
	openCase func(*Case) bool
	// audit is the committer's audit cache; audited says this request
	// appended to the log (audit.go).
	audit   *auditCache
	audited bool
}

func (t *Tx) get(key string) ([]byte, error) {
	if v, ok := t.pending[key]; ok {
		if v == nil {
			return nil, ErrNotFound
		}
		return v, nil
	}
	return t.ReadTx.get(key)
}

func (t *Tx) getRecord(key string, v any) error {
	b, err := t.get(key)
	if err != nil {
		return err
	}
	if err := decodeRecord(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func (t *Tx) set(key string, val []byte) {
	if _, ok := t.pending[key]; !ok {
		t.order = append(t.order, key)
	}
	t.pending[key] = val
}

func (t *Tx) setRecord(key string, v any) error {
	b, err := encodeRecord(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	t.set(key, b)
	return nil
}

func (t *Tx) del(key string) { t.set(key, nil) }

// nextSeq returns the next value of a named counter.
func (t *Tx) nextSeq(name string) (uint64, error) {
	key := "meta/seq/" + name
	var n uint64
	b, err := t.get(key)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return 0, err
	case len(b) == 8:
		n = binary.BigEndian.Uint64(b)
	default:
		return 0, fmt.Errorf("counter %s is corrupt", name)
	}
	n++
	t.set(key, binary.BigEndian.AppendUint64(nil, n))
	return n, nil
}

// size is the number of bytes the transaction writes.
func (t *Tx) size() int64 {
	var n int64
	for k, v := range t.pending {
		n += int64(len(k) + len(v))
	}
	return n
}

func (t *Tx) apply(txn *badger.Txn) error {
	for _, k := range t.order {
		v := t.pending[k]
		var err error
		if v == nil {
			err = txn.Delete([]byte(k))
		} else {
			err = txn.Set([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
