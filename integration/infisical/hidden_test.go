package infisical

import (
	"strings"
	"testing"
)

// An identity that may list a folder but not read its values gets each
// value replaced by a mask and "secretValueHidden": true. hush fails
// closed, naming the key and the cause, for a listed key, an optional one
// and a pinned version alike; the mask never reaches the child or the
// output.
func TestHiddenValue(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.f.hideValue("DB_PASSWORD")
	r := start(t, w.universal(
		"DB_PASSWORD=ref+infisical://DB_PASSWORD",
		"MAYBE=ref+infisical://DB_PASSWORD?optional=true",
		"PINNED=ref+infisical://DB_PASSWORD?version=1",
		"DB_USER=ref+infisical://DB_USER",
	))
	const cause = "secret DB_PASSWORD in project " + projectID + ", environment dev, folder /: Infisical hid its value (secretValueHidden)"
	out := r.expectRefused(
		"DB_PASSWORD: ref+infisical://DB_PASSWORD: "+cause,
		"MAYBE: ref+infisical://DB_PASSWORD?optional=true: "+cause,
		"PINNED: ref+infisical://DB_PASSWORD?version=1: "+cause,
		"lacks permission to read secret values",
	)
	if strings.Contains(out, "DB_USER:") || strings.Contains(out, "hidden-by-infisical") {
		t.Errorf("output:\n%s", out)
	}
	if r.children() != 0 {
		t.Error("a child was started")
	}
	if n := w.f.count(epList); n != 1 {
		t.Errorf("%d list calls", n)
	}
	assertNoLeak(t, out, w.secrets())
}

// A hidden value of a key nobody references does not matter: the folder's
// other keys are read as usual.
func TestHiddenValueNotReferenced(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.f.hideValue("CONFIG")
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD", "DB_USER=ref+infisical://DB_USER"))
	env := r.nextChild()
	if env["DB_PASSWORD"] != w.dbPassword || env["DB_USER"] != "app" {
		t.Error("wrong values")
	}
	r.stop()
	assertNoLeak(t, r.out.String(), w.secrets())
}

// A value hidden during a watch (the identity's role changed) is noticed by
// a poll; the re-read fails with the cause and the child keeps its secrets.
func TestHiddenValueMidWatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := start(t, w.universal("DB_PASSWORD=ref+infisical://DB_PASSWORD"), watchArgs...)
	r.nextChild()
	waitFor(t, "a poll", func() bool { return r.lines(logPolled) >= 1 })
	w.f.hideValue("DB_PASSWORD")
	waitFor(t, "the failed re-read", func() bool {
		return r.lines("cannot be read") >= 1 && r.lines("Infisical hid its value (secretValueHidden)") >= 1
	})
	if n := r.children(); n != 1 {
		t.Errorf("%d children", n)
	}
	r.stop()
	if out := r.out.String(); strings.Contains(out, "hidden-by-infisical") {
		t.Errorf("the mask is in the output:\n%s", out)
	}
	assertNoLeak(t, r.out.String(), w.secrets())
}
