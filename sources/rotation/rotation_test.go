package rotation

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hushinit/hush/sources"
)

// fakeBackend serves documents from a map the test mutates, counts reads per
// path, and keeps the notify func its watcher was given so that the test can
// send notices itself.
type fakeBackend struct {
	mu       sync.Mutex
	docs     map[string]string
	failing  map[string]bool
	reads    map[string]int
	notify   func(sources.GroupKey)
	keys     []sources.GroupKey
	vars     map[sources.GroupKey][]string
	watchErr error
}

func newFake(docs map[string]string) *fakeBackend {
	return &fakeBackend{docs: docs, failing: map[string]bool{}, reads: map[string]int{}}
}

func (f *fakeBackend) Read(_ context.Context, path string, _ url.Values) (sources.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[path]++
	if f.failing[path] {
		return sources.Secret{}, errors.New("backend unavailable")
	}
	doc, ok := f.docs[path]
	if !ok {
		return sources.Secret{}, sources.NotFound(errors.New(path + ": no such secret"))
	}
	return sources.NewSecret([]byte(doc)), nil
}

func (f *fakeBackend) Watch(_ context.Context, keys []sources.GroupKey, opts sources.WatchOptions, notify func(sources.GroupKey)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchErr != nil {
		return f.watchErr
	}
	f.keys = slices.Clone(keys)
	f.vars = opts.Vars
	f.notify = notify
	return nil
}

// Close implements sources.Closer, which every watcher is: the fake starts
// no goroutine.
func (f *fakeBackend) Close(context.Context) error { return nil }

var _ sources.Watcher = (*fakeBackend)(nil)

func (f *fakeBackend) set(path, doc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[path] = doc
}

func (f *fakeBackend) fail(path string, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing[path] = failing
}

func (f *fakeBackend) readCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[path]
}

// change sets path's document and tells the controller.
func (f *fakeBackend) change(path, doc string) {
	f.set(path, doc)
	f.notice(path)
}

// notice tells the controller that path may have changed.
func (f *fakeBackend) notice(path string) {
	f.mu.Lock()
	notify := f.notify
	f.mu.Unlock()
	notify(sources.GroupKey{Backend: "fake", Path: path, Query: ""})
}

// plainBackend reads but cannot watch.
type plainBackend struct{}

func (plainBackend) Read(context.Context, string, url.Values) (sources.Secret, error) {
	return sources.NewSecret([]byte("x")), nil
}

// requests scans NAME, REFERENCE pairs as hush scans its environment.
func requests(t *testing.T, pairs ...string) []sources.Request {
	t.Helper()
	var environ []string
	for i := 0; i+1 < len(pairs); i += 2 {
		environ = append(environ, pairs[i]+"="+pairs[i+1])
	}
	_, reqs, err := sources.Scan(environ, sources.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// prepared is a controller whose watches are in place and whose first
// read is done, not yet running.
type prepared struct {
	fake   *fakeBackend
	c      *Controller
	first  []sources.Value
	ctx    context.Context
	cancel context.CancelFunc
}

// prepare starts a controller over docs and the NAME, REFERENCE pairs and
// reads the first values. The controller stops when the test ends.
func prepare(t *testing.T, docs map[string]string, debounce, retry time.Duration, pairs ...string) *prepared {
	t.Helper()
	fake := newFake(docs)
	reqs := requests(t, pairs...)
	resolver := &sources.Resolver{Backends: map[string]sources.Backend{"fake": fake}}
	c := &Controller{
		Resolver:      resolver,
		Requests:      reqs,
		Debounce:      debounce,
		RetryInterval: retry,
		ReadTimeout:   10 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	watching, err := c.Start(ctx)
	if err != nil || !watching {
		t.Fatalf("Start = %v, %v", watching, err)
	}
	first, err := resolver.Resolve(ctx, reqs, sources.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &prepared{fake: fake, c: c, first: first, ctx: ctx, cancel: cancel}
}

// harness is a started controller running from the first read.
type harness struct {
	fake    *fakeBackend
	c       *Controller
	updates chan Update
}

// run runs the controller until the test ends, and checks that Run then
// returns.
func (p *prepared) run(t *testing.T) *harness {
	t.Helper()
	h := &harness{fake: p.fake, c: p.c, updates: make(chan Update)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.c.Run(p.ctx, p.first, h.updates)
	}()
	t.Cleanup(func() {
		p.cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return h
}

// start runs the requests every test uses: two from one JSON document (one
// read, one group) and one from another document, in an order that
// interleaves them.
func start(t *testing.T, debounce, retry time.Duration) *harness {
	t.Helper()
	docs := map[string]string{
		"db":  `{"user":"u1","pass":"p1"}`,
		"api": "k1",
	}
	return prepare(t, docs, debounce, retry,
		"DB_USER", "ref+fake://db#/user",
		"API_KEY", "ref+fake://api",
		"DB_PASS", "ref+fake://db#/pass",
	).run(t)
}

// next waits for an update; the bound only catches hangs.
func (h *harness) next(t *testing.T) Update {
	t.Helper()
	select {
	case u := <-h.updates:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update")
		return Update{}
	}
}

// nextChanged waits for an update and checks that it names the variables
// in want as changed.
func (h *harness) nextChanged(t *testing.T, want ...string) Update {
	t.Helper()
	u := h.next(t)
	if !slices.Equal(u.Changed, want) {
		t.Errorf("Changed = %v, want %v", u.Changed, want)
	}
	return u
}

// changeWithoutUpdate changes path's document and checks that the re-read
// it causes gives no update.
func (h *harness) changeWithoutUpdate(t *testing.T, path, doc string) {
	t.Helper()
	reads := h.fake.readCount(path)
	h.fake.change(path, doc)
	waitFor(t, "the re-read", func() bool { return h.fake.readCount(path) > reads })
	h.noUpdate(t)
}

// noUpdate fails if an update is waiting to be delivered right now.
func (h *harness) noUpdate(t *testing.T) {
	t.Helper()
	select {
	case u := <-h.updates:
		t.Fatalf("unexpected update: changed %v", u.Changed)
	default:
	}
}

// waitFor polls cond until it holds; the deadline only catches hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func values(u Update) map[string]string {
	m := map[string]string{}
	for _, v := range u.Values {
		m[v.Name] = string(v.Secret.Bytes())
	}
	return m
}

func names(u Update) []string {
	var n []string
	for _, v := range u.Values {
		n = append(n, v.Name)
	}
	return n
}

func TestStartWatchesEachGroupOnce(t *testing.T) {
	t.Parallel()
	h := start(t, 20*time.Millisecond, 50*time.Millisecond)
	h.fake.mu.Lock()
	keys, vars := h.fake.keys, h.fake.vars
	h.fake.mu.Unlock()
	want := []sources.GroupKey{{Backend: "fake", Path: "db"}, {Backend: "fake", Path: "api"}}
	if !slices.Equal(keys, want) {
		t.Errorf("watched %v, want %v", keys, want)
	}
	// A watcher's warnings name the variables a group feeds.
	wantVars := map[sources.GroupKey][]string{want[0]: {"DB_USER", "DB_PASS"}, want[1]: {"API_KEY"}}
	if !maps.EqualFunc(vars, wantVars, slices.Equal) {
		t.Errorf("watch options name %v, want %v", vars, wantVars)
	}
}

func TestChangedContentGivesOneUpdate(t *testing.T) {
	t.Parallel()
	h := start(t, 20*time.Millisecond, 50*time.Millisecond)
	before := time.Now()
	h.fake.change("db", `{"user":"u1","pass":"p2"}`)
	u := h.nextChanged(t, "DB_PASS")
	if !slices.Equal(names(u), []string{"DB_USER", "API_KEY", "DB_PASS"}) {
		t.Errorf("values in order %v, want request order", names(u))
	}
	want := map[string]string{"DB_USER": "u1", "API_KEY": "k1", "DB_PASS": "p2"}
	if got := values(u); !maps.Equal(got, want) {
		t.Errorf("values %v, want %v", got, want)
	}
	if u.Detected.Before(before) || u.Detected.After(time.Now()) {
		t.Errorf("Detected %v is not when the notice arrived", u.Detected)
	}

	// The next change is compared with the new values, not the first ones.
	h.fake.change("db", `{"user":"u2","pass":"p2"}`)
	h.nextChanged(t, "DB_USER")
}

func TestUnchangedContentGivesNoUpdate(t *testing.T) {
	t.Parallel()
	h := start(t, 20*time.Millisecond, 50*time.Millisecond)
	// Rewritten with the same bytes: a notice, a re-read, no update.
	h.changeWithoutUpdate(t, "db", `{"user":"u1","pass":"p1"}`)

	// Had the unchanged notice produced an update, it would be the one
	// received here; the first update must be the real change.
	h.fake.change("api", "k2")
	h.nextChanged(t, "API_KEY")
}

func TestMissingOptionalCountsAsAChange(t *testing.T) {
	t.Parallel()
	h := prepare(t, map[string]string{"a": "1"}, 20*time.Millisecond, 50*time.Millisecond, "A", "ref+fake://a?optional=true").run(t)
	h.fake.mu.Lock()
	delete(h.fake.docs, "a")
	h.fake.mu.Unlock()
	h.fake.notice("a")
	if u := h.nextChanged(t, "A"); !u.Values[0].Missing {
		t.Errorf("update %+v, want A missing", u)
	}
}

func TestDebounce(t *testing.T) {
	t.Parallel()
	// A generous window, so that the 50 notices below (microseconds of
	// work) land inside it even on a loaded machine. Nothing measures it.
	h := start(t, 300*time.Millisecond, time.Hour)
	reads := h.fake.readCount("db")
	h.fake.set("db", `{"user":"u2","pass":"p2"}`)
	for range 50 {
		h.fake.notice("db")
	}
	h.nextChanged(t, "DB_USER", "DB_PASS")
	if got := h.fake.readCount("db") - reads; got != 1 {
		t.Errorf("%d re-reads for 50 notices in one window, want 1", got)
	}
	// Nothing left over that could start a second read.
	h.c.notices.mu.Lock()
	left := len(h.c.notices.keys)
	h.c.notices.mu.Unlock()
	if left != 0 {
		t.Errorf("%d notices left after the update, want none", left)
	}
	h.noUpdate(t)
}

// Notices that arrive before Run (between the first read and the start of
// the loop) are kept, merged, and acted on once.
func TestNoticesBeforeRun(t *testing.T) {
	t.Parallel()
	p := prepare(t, map[string]string{"a": "1"}, 20*time.Millisecond, time.Hour, "A", "ref+fake://a")
	p.fake.set("a", "2")
	for range 50 {
		p.fake.notice("a")
	}
	h := p.run(t)
	if u := h.nextChanged(t, "A"); string(u.Values[0].Secret.Bytes()) != "2" {
		t.Errorf("update %+v", u)
	}
	if got := h.fake.readCount("a"); got != 2 {
		t.Errorf("%d reads, want 2 (the first and one re-read)", got)
	}
}

func TestFailedRereadThenRecovery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		retry time.Duration
		// recover makes the source readable again and, if it needs to,
		// tells the controller.
		recover func(h *harness)
	}{
		{"retry interval", 50 * time.Millisecond, func(h *harness) {
			h.fake.fail("db", false)
		}},
		// With an hour's retry interval only the new notice can bring the
		// read forward.
		{"new notice", time.Hour, func(h *harness) {
			h.fake.fail("db", false)
			h.fake.notice("db")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, 20*time.Millisecond, tc.retry)
			reads := h.fake.readCount("db")
			h.fake.set("db", `{"user":"u1","pass":"p2"}`)
			h.fake.fail("db", true)
			h.fake.notice("db")
			waitFor(t, "the failed re-read", func() bool { return h.fake.readCount("db") > reads })
			if tc.retry < time.Hour {
				// And at least one retry, still failing.
				waitFor(t, "a retry", func() bool { return h.fake.readCount("db") > reads+1 })
			}
			h.noUpdate(t)

			tc.recover(h)
			u := h.nextChanged(t, "DB_PASS")
			if got := values(u)["DB_PASS"]; got != "p2" {
				t.Errorf("DB_PASS = %q, want p2", got)
			}
		})
	}
}

// Content that cannot be resolved (here: not JSON any more, so the
// pointers fail) is a failed re-read too: no update until it is fixed.
func TestInvalidContentGivesNoUpdate(t *testing.T) {
	t.Parallel()
	h := start(t, 20*time.Millisecond, time.Hour)
	h.changeWithoutUpdate(t, "db", `{"user":`)
	h.fake.change("db", `{"user":"u3","pass":"p1"}`)
	h.nextChanged(t, "DB_USER")
}

func TestOnlyNotifiedGroupIsReread(t *testing.T) {
	t.Parallel()
	h := start(t, 20*time.Millisecond, 50*time.Millisecond)
	apiReads := h.fake.readCount("api")
	dbReads := h.fake.readCount("db")
	// Both documents change, but only db is reported.
	h.fake.set("db", `{"user":"u2","pass":"p1"}`)
	h.fake.set("api", "k2")
	h.fake.notice("db")
	u := h.nextChanged(t, "DB_USER")
	want := map[string]string{"DB_USER": "u2", "API_KEY": "k1", "DB_PASS": "p1"}
	if got := values(u); !maps.Equal(got, want) {
		t.Errorf("values %v, want %v (API_KEY carried over)", got, want)
	}
	if got := h.fake.readCount("api"); got != apiReads {
		t.Errorf("api read %d times more, want 0", got-apiReads)
	}
	if got := h.fake.readCount("db"); got != dbReads+1 {
		t.Errorf("db read %d times more, want 1 (one read for both of its variables)", got-dbReads)
	}
}

func TestStart(t *testing.T) {
	t.Parallel()
	t.Run("no backend can watch", func(t *testing.T) {
		t.Parallel()
		c := &Controller{
			Resolver: &sources.Resolver{Backends: map[string]sources.Backend{"plain": plainBackend{}}},
			Requests: requests(t, "A", "ref+plain://a", "B", "ref+plain://b"),
		}
		watching, err := c.Start(context.Background())
		if watching || err != nil {
			t.Errorf("Start = %v, %v; want false, nil", watching, err)
		}
	})
	t.Run("no requests", func(t *testing.T) {
		t.Parallel()
		c := &Controller{Resolver: &sources.Resolver{Backends: map[string]sources.Backend{"fake": newFake(nil)}}}
		watching, err := c.Start(context.Background())
		if watching || err != nil {
			t.Errorf("Start = %v, %v; want false, nil", watching, err)
		}
	})
	t.Run("only the backends that can watch", func(t *testing.T) {
		t.Parallel()
		fake := newFake(nil)
		c := &Controller{
			Resolver: &sources.Resolver{Backends: map[string]sources.Backend{"plain": plainBackend{}, "fake": fake}},
			Requests: requests(t, "A", "ref+plain://a", "B", "ref+fake://b", "C", "ref+fake://b#/x"),
		}
		watching, err := c.Start(context.Background())
		if !watching || err != nil {
			t.Fatalf("Start = %v, %v; want true, nil", watching, err)
		}
		if want := []sources.GroupKey{{Backend: "fake", Path: "b"}}; !slices.Equal(fake.keys, want) {
			t.Errorf("fake watches %v, want %v", fake.keys, want)
		}
	})
	t.Run("a watch that fails", func(t *testing.T) {
		t.Parallel()
		fake := newFake(nil)
		fake.watchErr = errors.New("inotify limit")
		c := &Controller{
			Resolver: &sources.Resolver{Backends: map[string]sources.Backend{"fake": fake}},
			Requests: requests(t, "A", "ref+fake://a"),
		}
		_, err := c.Start(context.Background())
		if err == nil || !errors.Is(err, fake.watchErr) {
			t.Errorf("Start error = %v, want the watcher's", err)
		}
	})
}

// TestAffected: a value with references inside is re-read whole, and every
// other request on the groups that re-reads is re-read with it, so that one
// read still serves them all.
func TestAffected(t *testing.T) {
	t.Parallel()
	resolver := &sources.Resolver{Backends: map[string]sources.Backend{"fake": plainBackend{}}}
	_, reqs, err := sources.Scan([]string{
		"A=ref+fake://one#/user",
		"B=postgres://ref+fake://one#/user+:ref+fake://two+@db/app",
		"C=ref+fake://two",
		"D=ref+fake://three",
	}, sources.ScanOptions{IsBackend: resolver.HasBackend, ValidateRef: resolver.ValidateRef})
	if err != nil {
		t.Fatal(err)
	}
	c := &Controller{Resolver: resolver, Requests: reqs}
	keys := map[sources.GroupKey]bool{reqs[2].Ref.Group(): true}
	if got := c.affected(keys); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("affected = %v, want A, B and C", got)
	}
	if keys[reqs[3].Ref.Group()] || !keys[reqs[0].Ref.Group()] {
		t.Errorf("keys = %v", keys)
	}
}
