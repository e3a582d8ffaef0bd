package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"
)

// DefaultMaxConcurrent bounds concurrent reads when Resolver.MaxConcurrent
// is not set: enough to hide the latency of a few remote paths, few enough
// not to trip a secret manager's rate limit at container start.
const DefaultMaxConcurrent = 8

// Request is one variable whose value is a reference.
type Request struct {
	Name string // the variable to set
	Ref  Ref
	// From names the variable the request came from when it is not Name:
	// X_FILE for the _FILE convention. Empty otherwise.
	From string
}

// Value is a resolved variable.
type Value struct {
	Name    string
	Ref     Ref
	Secret  Secret
	Missing bool // the reference is optional and the secret does not exist: leave the variable unset
}

// ResolveOptions configures one Resolve call.
type ResolveOptions struct {
	// EnvDelivery reports whether a request's value will be put in an
	// environment variable, where a NUL byte cannot be represented. Requests
	// with ?as=file are never env-delivered; nil means every other request
	// is (the safe default).
	EnvDelivery func(Request) bool
}

// Resolver reads references through a set of backends. Its fields are read
// only, so one Resolver may serve concurrent Resolve calls.
type Resolver struct {
	Backends      map[string]Backend // by backend name, e.g. "file"
	MaxConcurrent int                // bound on concurrent group reads; <= 0 means DefaultMaxConcurrent
	Logger        *slog.Logger       // may be nil; logs name variables and references, never values
}

// HasBackend reports whether name is a configured backend; it fits
// ScanOptions.KnownBackends.
func (r *Resolver) HasBackend(name string) bool {
	_, ok := r.Backends[name]
	return ok
}

// ValidateRef checks that ref's backend exists and accepts its query
// parameters, without reading anything; it fits ScanOptions.ValidateRef.
func (r *Resolver) ValidateRef(ref Ref) error {
	b, ok := r.Backends[ref.Backend]
	if !ok {
		names := make([]string, 0, len(r.Backends))
		for n := range r.Backends {
			names = append(names, n)
		}
		sort.Strings(names)
		return unknownBackend(ref.Backend, names)
	}
	if v, ok := b.(QueryValidator); ok {
		return v.ValidQuery(ref.Query)
	}
	if len(ref.Query) > 0 {
		return fmt.Errorf("backend %q takes no query parameters, got %s", ref.Backend, queryKeys(ref.Query))
	}
	return nil
}

// Resolve reads every distinct group once, concurrently but at most
// MaxConcurrent at a time, applies each request's pointer, checks the limits
// and returns the values in request order.
//
// On failure it returns no values and an error joining one *VarError per
// failed variable. Every reference is validated before anything is read.
// When ctx ends first, Resolve returns at once with ctx's error for each
// variable still waiting; reads that ignore ctx are abandoned, not awaited.
func (r *Resolver) Resolve(ctx context.Context, reqs []Request, opts ResolveOptions) ([]Value, error) {
	var errs []error
	for _, req := range reqs {
		if err := r.ValidateRef(req.Ref); err != nil {
			errs = append(errs, varError(req, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	groups, groupOf := r.groupRequests(reqs)
	results := r.readAll(ctx, groups, reqs)

	values := make([]Value, len(reqs))
	for i, req := range reqs {
		res := results[groupOf[i]]
		v, err := finish(req, res.secret, res.err, opts)
		if err != nil {
			errs = append(errs, varError(req, err))
			continue
		}
		r.logger().Debug("resolved secret reference", "var", req.Name, "ref", req.Ref.Raw, "missing", v.Missing)
		values[i] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return values, nil
}

// group is one read shared by the requests at indexes reqs.
type group struct {
	key     GroupKey
	backend Backend
	path    string
	query   url.Values
	reqs    []int
}

func (r *Resolver) groupRequests(reqs []Request) ([]*group, []int) {
	var groups []*group
	byKey := make(map[GroupKey]int)
	groupOf := make([]int, len(reqs))
	for i, req := range reqs {
		key := req.Ref.Group()
		gi, ok := byKey[key]
		if !ok {
			gi = len(groups)
			byKey[key] = gi
			groups = append(groups, &group{key: key, backend: r.Backends[req.Ref.Backend], path: req.Ref.Path, query: req.Ref.Query})
		}
		groupOf[i] = gi
		groups[gi].reqs = append(groups[gi].reqs, i)
	}
	return groups, groupOf
}

type readResult struct {
	secret Secret
	err    error
}

// readAll runs one read per group, bounded by a semaphore, and waits for all
// of them or for ctx. The result channel is buffered for every group so that
// a read finishing after Resolve gave up never blocks its goroutine.
func (r *Resolver) readAll(ctx context.Context, groups []*group, reqs []Request) []readResult {
	type done struct {
		i int
		readResult
	}
	results := make([]readResult, len(groups))
	finished := make([]bool, len(groups))
	ch := make(chan done, len(groups))
	sem := make(chan struct{}, r.maxConcurrent())
	log := r.logger()

	for i, g := range groups {
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				ch <- done{i, readResult{err: ctx.Err()}}
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			if log.Enabled(ctx, slog.LevelDebug) { // names() allocates: only when it will be printed
				log.Debug("reading secret", "backend", g.key.Backend, "path", g.key.Path, "vars", names(reqs, g.reqs))
			}
			s, err := g.backend.Read(ctx, g.path, g.query)
			if err != nil {
				log.Debug("reading secret failed", "backend", g.key.Backend, "path", g.key.Path, "duration", time.Since(start), "error", err)
			} else {
				log.Debug("read secret", "backend", g.key.Backend, "path", g.key.Path, "duration", time.Since(start))
			}
			ch <- done{i, readResult{secret: s, err: err}}
		}()
	}

	record := func(d done) {
		results[d.i], finished[d.i] = d.readResult, true
	}
	for remaining := len(groups); remaining > 0; remaining-- {
		select {
		case d := <-ch:
			record(d)
		case <-ctx.Done():
			// Keep whatever has already arrived, then give up on the rest.
			for drained := false; !drained; {
				select {
				case d := <-ch:
					record(d)
				default:
					drained = true
				}
			}
			for i := range results {
				if !finished[i] {
					results[i].err = fmt.Errorf("no answer from the backend: %w", ctx.Err())
				}
			}
			return results
		}
	}
	return results
}

// finish turns a group's document into one request's value.
func finish(req Request, doc Secret, readErr error, opts ResolveOptions) (Value, error) {
	missing := func(err error) (Value, error) {
		if req.Ref.Optional && errors.Is(err, ErrNotFound) {
			return Value{Name: req.Name, Ref: req.Ref, Missing: true}, nil
		}
		return Value{}, err
	}
	if readErr != nil {
		return missing(readErr)
	}
	s, err := ApplyPointer(doc, req.Ref.Pointer)
	if err != nil {
		return missing(err)
	}
	if s.Len() > MaxSecretSize {
		return Value{}, fmt.Errorf("value is %d bytes, over the %d-byte limit", s.Len(), MaxSecretSize)
	}
	if envDelivered(req, opts) && bytes.IndexByte(s.Bytes(), 0) >= 0 {
		return Value{}, errors.New("value contains a NUL byte, which an environment variable cannot hold (deliver it with ?as=file)")
	}
	return Value{Name: req.Name, Ref: req.Ref, Secret: s}, nil
}

func envDelivered(req Request, opts ResolveOptions) bool {
	if req.Ref.AsFile {
		return false
	}
	if opts.EnvDelivery == nil {
		return true
	}
	return opts.EnvDelivery(req)
}

func varError(req Request, err error) error {
	return &VarError{Name: req.Name, From: req.From, Ref: req.Ref.Raw, Err: err}
}

func (r *Resolver) maxConcurrent() int {
	if r.MaxConcurrent <= 0 {
		return DefaultMaxConcurrent
	}
	return r.MaxConcurrent
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func names(reqs []Request, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = reqs[j].Name
	}
	return out
}

func queryKeys(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, fmt.Sprintf("%q", k))
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}
