package tenantreg

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"
)

// Buckets is how many bucket documents a registry is spread over.
const Buckets = 256

// TombstoneRetention is how long a removed tenant's tombstone is kept: a
// record of the same tenant older than it never comes back, from a late
// sync or a node's memory. Past it, the next write of its bucket drops it.
const TombstoneRetention = 30 * 24 * time.Hour

// Record is one tenant as the registry keeps it.
type Record struct {
	// Rev orders the changes of one tenant: the highest wins.
	Rev int64 `json:"rev"`
	// Name is the corp's name, when upstream gave one.
	Name string `json:"name,omitempty"`
	// AddedAt is when the tenant was added (Unix seconds).
	AddedAt int64 `json:"added_at,omitempty"`
	// Secret is the sealed secret of the tenant, if it has one (a WeCom
	// permanent code).
	Secret string `json:"secret,omitempty"`
	// AuthorizedAt is the push time, by upstream's clock (Unix seconds), of
	// the authorization that added the tenant, when a push added it. A
	// removal pushed earlier than that is older than the install.
	AuthorizedAt int64 `json:"authorized_at,omitempty"`
	// RemovedAt, when set, makes the record a tombstone: the tenant was
	// removed then (Unix seconds).
	RemovedAt int64 `json:"removed_at,omitempty"`
}

// PushedBefore reports whether a push stamped at (upstream's clock) was
// sent before the authorization that added r: a removal that old is a
// replay, not the tenant leaving.
func (r Record) PushedBefore(at time.Time) bool {
	return r.AuthorizedAt != 0 && !at.IsZero() && at.Unix() < r.AuthorizedAt
}

// Removed reports whether r is a tombstone.
func (r Record) Removed() bool { return r.RemovedAt != 0 }

// expired reports whether r is a tombstone past TombstoneRetention.
func (r Record) expired(now time.Time) bool {
	return r.Removed() && now.Sub(time.Unix(r.RemovedAt, 0)) > TombstoneRetention
}

// bucketOf returns the bucket a tenant's record lives in.
func bucketOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % Buckets)
}

// formatVersion is the version of the head and bucket documents.
const formatVersion = 2

// headDoc names the revision of every bucket that was ever written; a
// bucket absent from it is empty.
type headDoc struct {
	V       int              `json:"v"`
	Rev     int64            `json:"rev"`
	Buckets map[string]int64 `json:"buckets"` // bucket in two hex digits -> its revision
	// Recover says the registry was started empty because the store held
	// none and no instance held any record: the tenants are to be
	// recovered from upstream where it can list them.
	Recover bool `json:"recover,omitempty"`
}

// bucketDoc holds the records of one bucket, tombstones included.
type bucketDoc struct {
	V       int               `json:"v"`
	Tenants map[string]Record `json:"tenants"`
}

// errCorrupt is wrapped by the decoders for a document that does not
// parse: it is repaired, never trusted.
var errCorrupt = errors.New("tenantreg: document does not parse")

func bucketName(b int) string { return fmt.Sprintf("%02x", b) }

func decodeHead(raw string) (headDoc, error) {
	var h headDoc
	if err := json.Unmarshal([]byte(raw), &h); err != nil || h.V != formatVersion {
		return headDoc{}, errCorrupt
	}
	for name := range h.Buckets {
		if b, err := strconv.ParseUint(name, 16, 8); err != nil || bucketName(int(b)) != name {
			return headDoc{}, errCorrupt
		}
	}
	if h.Buckets == nil {
		h.Buckets = map[string]int64{}
	}
	return h, nil
}

func (h headDoc) rev(b int) int64 { return h.Buckets[bucketName(b)] }

func decodeBucket(raw string, b int) (map[string]Record, error) {
	var d bucketDoc
	if err := json.Unmarshal([]byte(raw), &d); err != nil || d.V != formatVersion {
		return nil, errCorrupt
	}
	for id, rec := range d.Tenants {
		if id == "" || bucketOf(id) != b || rec.Rev <= 0 {
			return nil, errCorrupt
		}
	}
	if d.Tenants == nil {
		d.Tenants = map[string]Record{}
	}
	return d.Tenants, nil
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
