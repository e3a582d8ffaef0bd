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

// Request is one variable whose value is a reference, or holds references
// inside a longer text (Parts).
type Request struct {
	Name string // the variable to set
	Ref  Ref    // the reference, when it is the whole value
	// Parts is set, and Ref zero, for a value with references inside a
	// longer text, vals' postgres://app:ref+vault://db#/pw+@db/app.
	Parts []Part
	// From names the variable the request came from when it is not Name:
	// X_FILE for the _FILE convention. Empty otherwise.
	From string
}

// Part is one piece of a value that holds references inside a longer
// text: literal Text, or a Ref.
type Part struct {
	Text string
	Ref  *Ref
}

// Refs lists the references r reads: its Ref, or those among its Parts.
func (r Request) Refs() []Ref {
	if r.Parts == nil {
		return []Ref{r.Ref}
	}
	var refs []Ref
	for _, p := range r.Parts {
		if p.Ref != nil {
			refs = append(refs, *p.Ref)
		}
	}
	return refs
}

// Value is a resolved variable.
type Value struct {
	Name    string
	From    string // Request.From: X_FILE when the _FILE convention made this value
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

// HasBackend reports whether name is a backend of this build; it fits
// ScanOptions.IsBackend.
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
// failed variable. The requests must come from Scan, which validated their
// references. When ctx ends first, Resolve returns at once with ctx's error
// for each variable still waiting; reads that ignore ctx are abandoned, not
// awaited.
func (r *Resolver) Resolve(ctx context.Context, reqs []Request, opts ResolveOptions) ([]Value, error) {
	values, errs := r.ResolveEach(ctx, reqs, opts)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return values, nil
}

// ResolveEach is Resolve for a caller that reports every variable (hush
// check): values[i] is request i's value and errs[i] its error (one
// *VarError per failed reference, joined), exactly one of them set.
//
// References inside a longer value are read with everything else: one
// read per group across whole and embedded references, so that a dynamic
// credential's username in one variable and its password inside a URL come
// from the same lease.
func (r *Resolver) ResolveEach(ctx context.Context, reqs []Request, opts ResolveOptions) ([]Value, []error) {
	units := unitsOf(reqs)
	groups, groupOf := r.groupUnits(units)
	results := r.readAll(ctx, groups, units, reqs)

	values := make([]Value, len(reqs))
	errs := make([]error, len(reqs))
	parts := make([][]Secret, len(reqs))
	for u, unit := range units {
		req := reqs[unit.req]
		res := results[groupOf[u]]
		v, err := finish(req, unit.ref, res.secret, res.err, opts)
		if err != nil {
			var e error = &VarError{Name: req.Name, From: req.From, Ref: unit.ref.Raw, Err: err}
			if errs[unit.req] != nil {
				e = errors.Join(errs[unit.req], e)
			}
			errs[unit.req] = e
			continue
		}
		r.logger().Debug("resolved secret reference", "var", req.Name, "ref", displayRef(unit.ref.Raw), "missing", v.Missing)
		if req.Parts == nil {
			values[unit.req] = v
		} else {
			parts[unit.req] = append(parts[unit.req], v.Secret)
		}
	}
	for i, req := range reqs {
		if req.Parts == nil || errs[i] != nil {
			continue
		}
		v, err := render(req, parts[i], opts)
		if err != nil {
			errs[i] = varError(req, err)
			continue
		}
		values[i] = v
	}
	return values, errs
}

// unit is one reference to read: a whole request's, or one of those inside
// a longer value.
type unit struct {
	req int
	ref Ref
}

func unitsOf(reqs []Request) []unit {
	var units []unit
	for i, req := range reqs {
		for _, ref := range req.Refs() {
			units = append(units, unit{req: i, ref: ref})
		}
	}
	return units
}

// render builds a value that holds references inside a longer text from
// its parts' values, in order, and checks the whole against the limits.
func render(req Request, values []Secret, opts ResolveOptions) (Value, error) {
	var b []byte
	next := 0
	for _, p := range req.Parts {
		if p.Ref == nil {
			b = append(b, p.Text...)
			continue
		}
		b = append(b, values[next].Bytes()...)
		next++
	}
	s := NewSecret(b)
	if err := checkLimits(req, s, opts); err != nil {
		return Value{}, err
	}
	return Value{Name: req.Name, From: req.From, Secret: s}, nil
}

// group is one read shared by the units at indexes units.
type group struct {
	key     GroupKey
	backend Backend
	path    string
	query   url.Values
	units   []int
}

func (r *Resolver) groupUnits(units []unit) ([]*group, []int) {
	var groups []*group
	byKey := make(map[GroupKey]int)
	groupOf := make([]int, len(units))
	for i, u := range units {
		key := u.ref.Group()
		gi, ok := byKey[key]
		if !ok {
			gi = len(groups)
			byKey[key] = gi
			groups = append(groups, &group{key: key, backend: r.Backends[u.ref.Backend], path: u.ref.Path, query: u.ref.Query})
		}
		groupOf[i] = gi
		groups[gi].units = append(groups[gi].units, i)
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
func (r *Resolver) readAll(ctx context.Context, groups []*group, units []unit, reqs []Request) []readResult {
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
		if g.backend == nil {
			// Scan validates every reference; this only keeps a
			// caller that skipped it from crashing hush.
			ch <- done{i, readResult{err: fmt.Errorf("unknown backend %q", g.key.Backend)}}
			continue
		}
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
				log.Debug("reading secret", "backend", g.key.Backend, "path", displayRef(g.key.Path), "vars", names(reqs, units, g.units))
			}
			s, err := g.backend.Read(ctx, g.path, g.query)
			if err != nil {
				log.Debug("reading secret failed", "backend", g.key.Backend, "path", displayRef(g.key.Path), "duration", time.Since(start), "err", displayText(err.Error()))
			} else {
				log.Debug("read secret", "backend", g.key.Backend, "path", displayRef(g.key.Path), "duration", time.Since(start))
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

// finish turns a group's document into the value of one reference of req.
func finish(req Request, ref Ref, doc Secret, readErr error, opts ResolveOptions) (Value, error) {
	missing := func(err error) (Value, error) {
		if ref.Optional && errors.Is(err, ErrNotFound) {
			return Value{Name: req.Name, From: req.From, Ref: ref, Missing: true}, nil
		}
		return Value{}, err
	}
	if readErr != nil {
		return missing(readErr)
	}
	s, err := ApplyPointer(doc, ref.Pointer)
	if err != nil {
		return missing(err)
	}
	if s.Len() == 0 && !ref.AllowEmpty {
		return Value{}, errors.New("the value is empty, which is usually a truncated file or an unset key; " +
			"add ?allow_empty=true to the reference if empty is what you mean")
	}
	if err := checkLimits(req, s, opts); err != nil {
		return Value{}, err
	}
	return Value{Name: req.Name, From: req.From, Ref: ref, Secret: s}, nil
}

// checkLimits applies the size limit, and the NUL rule to a value that
// goes into an environment variable.
func checkLimits(req Request, s Secret, opts ResolveOptions) error {
	if s.Len() > MaxSecretSize {
		return fmt.Errorf("value is %d bytes, over the %d-byte limit", s.Len(), MaxSecretSize)
	}
	if envDelivered(req, opts) && bytes.IndexByte(s.Bytes(), 0) >= 0 {
		return errors.New("value contains a NUL byte, which an environment variable cannot hold (deliver it with ?as=file)")
	}
	return nil
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

func names(reqs []Request, units []unit, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = reqs[units[j].req].Name
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
