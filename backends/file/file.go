// Package filebackend stores wxtoken credentials as files in one directory
// and locks their refresh with flock(2), for several processes on one host
// (a pre-fork server, a few workers behind a local proxy) that share no
// network store.
//
//	core.SetCache(filebackend.New("/var/lib/wxtoken"))
//
// Each key is one file, named by the SHA-256 of the key, holding the key,
// the value and its expiry as JSON. Writes are atomic: a temporary file in
// the same directory is written, synced and renamed over the old one, and
// the directory is synced, so a reader sees the old value or the new one,
// never half of one, even across a crash. Locks are flock(2) locks on files
// under locks/: the kernel releases them the moment their process dies, and
// a lease not extended is released by its own process after its TTL.
package filebackend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

var (
	_ store.Cache = (*Backend)(nil)
	_ lock.Locker = (*Backend)(nil)
)

// Backend is a store.Cache and a lock.Locker on one directory. Several
// Backends, in one process or many, may share the directory.
type Backend struct {
	dir string
}

// New returns a Backend on dir, which is created (with its values/ and
// locks/ subdirectories) on first use.
func New(dir string) *Backend { return &Backend{dir: dir} }

// record is the content of one value file.
type record struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	ExpiresAt int64  `json:"expires_at_ms,omitempty"` // Unix ms; 0: never
}

func (b *Backend) path(sub, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(b.dir, sub, hex.EncodeToString(sum[:]))
}

// Get implements store.Cache. An unreadable or foreign file counts as a
// miss: the next Set replaces it.
func (b *Backend) Get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	raw, err := os.ReadFile(b.path("values", key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	var r record
	if json.Unmarshal(raw, &r) != nil || r.Key != key {
		return "", store.ErrNotFound
	}
	if r.ExpiresAt != 0 && time.Now().UnixMilli() >= r.ExpiresAt {
		return "", store.ErrNotFound
	}
	return r.Value, nil
}

// Set implements store.Cache, atomically.
func (b *Backend) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := record{Key: key, Value: value}
	if ttl > 0 {
		r.ExpiresAt = time.Now().Add(ttl).UnixMilli()
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeAtomic(b.path("values", key), raw)
}

// Remove implements store.Cache.
func (b *Backend) Remove(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(b.path("values", key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Sweep deletes the files of expired values. Expired values are already
// invisible; this only reclaims their space.
func (b *Backend) Sweep(ctx context.Context) error {
	entries, err := os.ReadDir(filepath.Join(b.dir, "values"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	for _, de := range entries {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p := filepath.Join(b.dir, "values", de.Name())
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r record
		if json.Unmarshal(raw, &r) == nil && r.ExpiresAt != 0 && now >= r.ExpiresAt {
			_ = os.Remove(p)
		}
	}
	return nil
}

// writeAtomic replaces path with data: temp file, fsync, rename, fsync of
// the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
