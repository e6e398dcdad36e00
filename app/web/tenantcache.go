package web

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/lapsehq/lapse/app"
)

const (
	// tenantCacheTTL bounds how long a replica acts on a tenant row it has
	// read. An entry's age counts from before the read that filled it, so a
	// tenant disabled or uninstalled through another replica (or the CLI)
	// is refused here at most this long after the change commits.
	tenantCacheTTL = time.Second
	// tenantCacheSize bounds the memory the cache holds: far more tenants
	// than one second of traffic touches.
	tenantCacheSize = 10_000
	// tenantLoadTimeout bounds a shared read, which no single request's
	// cancellation may abort (the others waiting on it would fail too).
	tenantLoadTimeout = 10 * time.Second
)

// tenantCache keeps the tenants of recently seen Connect clientKeys, with
// their shared secrets decrypted, so the authenticated path does not read
// and decrypt the tenant row on every request. It only replaces the lookup:
// every request still verifies its token against the secret and checks the
// tenant's state. Unknown clientKeys are not cached, so an install made
// through another replica is usable at once. The decrypted secrets live
// only in memory and are never logged (app.Tenant hides them from JSON).
type tenantCache struct {
	load func(ctx context.Context, clientKey string) (*app.Tenant, error)
	now  func() time.Time
	ttl  time.Duration
	size int

	mu      sync.Mutex
	gen     uint64 // bumped by clear; a read begun before a clear is not kept
	entries map[string]tenantEntry
	flight  singleflight.Group
}

type tenantEntry struct {
	tenant  *app.Tenant
	expires time.Time
}

func newTenantCache(load func(context.Context, string) (*app.Tenant, error), now func() time.Time) *tenantCache {
	return &tenantCache{load: load, now: now, ttl: tenantCacheTTL, size: tenantCacheSize, entries: map[string]tenantEntry{}}
}

// get returns the tenant of clientKey, from memory when read less than the
// TTL ago. Concurrent misses of one key share a single read. Each caller
// gets its own copy of the tenant, so handlers cannot race on it.
func (tc *tenantCache) get(ctx context.Context, clientKey string) (*app.Tenant, error) {
	now := tc.now()
	tc.mu.Lock()
	e, ok := tc.entries[clientKey]
	gen := tc.gen
	tc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return copyTenant(e.tenant), nil
	}
	// The generation is part of the key: a request that arrives after a
	// clear must not join a read that began before it.
	key := strconv.FormatUint(gen, 10) + "\x00" + clientKey
	ch := tc.flight.DoChan(key, func() (any, error) { return tc.fill(ctx, clientKey, gen) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return copyTenant(r.Val.(*app.Tenant)), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fill reads the tenant and keeps it unless the cache was cleared while the
// read ran (the row read may predate the change that cleared it).
func (tc *tenantCache) fill(ctx context.Context, clientKey string, gen uint64) (*app.Tenant, error) {
	start := tc.now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tenantLoadTimeout)
	defer cancel()
	t, err := tc.load(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.gen == gen {
		if _, ok := tc.entries[clientKey]; !ok && len(tc.entries) >= tc.size {
			tc.evict(start)
		}
		tc.entries[clientKey] = tenantEntry{tenant: t, expires: start.Add(tc.ttl)}
	}
	return t, nil
}

// evict makes room for one entry: expired entries go first, then, if the
// cache is still full, an arbitrary one (map order is random).
func (tc *tenantCache) evict(now time.Time) {
	for k, e := range tc.entries {
		if !now.Before(e.expires) {
			delete(tc.entries, k)
		}
	}
	for k := range tc.entries {
		if len(tc.entries) < tc.size {
			return
		}
		delete(tc.entries, k)
	}
}

// clear forgets every tenant. Lifecycle callbacks and Forge events call it
// after they change a tenant, so this replica sees the change at once.
func (tc *tenantCache) clear() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.gen++
	clear(tc.entries)
}

func copyTenant(t *app.Tenant) *app.Tenant {
	c := *t
	return &c
}
