package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hushinit/hush/sources"
)

// newLogger writes hush's own logs to stderr. No value ever reaches a
// record: secrets are sources.Secret, whose every formatting says
// "[redacted]", and errors are built from names and references only.
func newLogger(o options, w io.Writer) *slog.Logger {
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: o.logLevel, ReplaceAttr: boundAttr})).With("logger", "hush")
	}
	return slog.New(&textHandler{w: w, mu: &sync.Mutex{}, level: o.logLevel})
}

// maxAttr bounds one attribute of a log record. Errors already quote at
// most a bounded part of a reference; this is the net under every other
// path (a backend's message that repeats a 100 KB path), so that no input
// makes a log line of its size.
const maxAttr = 2048

// boundAttr cuts a long string attribute, on a rune boundary.
func boundAttr(_ []string, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() != slog.KindString && v.Kind() != slog.KindAny {
		return a
	}
	if s := v.String(); len(s) > maxAttr {
		return slog.String(a.Key, bound(s))
	}
	return a
}

func bound(s string) string {
	if len(s) <= maxAttr {
		return s
	}
	cut := maxAttr
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// textHandler writes one line per record for people reading `docker logs`:
//
//	hush: error: cannot start: DB_PASSWORD: ref+file:///run/secrets/db: open ...: no such file or directory
//	hush: info: child restarted with new secrets pid=42 stop_took=12ms
//
// No time stamp: container runtimes stamp every line already. The err
// attribute continues the message, the way Go errors read.
type textHandler struct {
	w     io.Writer
	mu    *sync.Mutex
	level slog.Leveler
	attrs []slog.Attr
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *textHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &c
}

// WithGroup is not used by hush; groups are flattened.
func (h *textHandler) WithGroup(string) slog.Handler { return h }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("hush: ")
	b.WriteString(strings.ToLower(r.Level.String()))
	b.WriteString(": ")
	b.WriteString(r.Message)
	var rest strings.Builder
	write := func(a slog.Attr) bool {
		v := bound(a.Value.Resolve().String())
		if a.Key == "err" {
			b.WriteString(": ")
			b.WriteString(v)
			return true
		}
		rest.WriteByte(' ')
		rest.WriteString(a.Key)
		rest.WriteByte('=')
		if v == "" || strings.ContainsAny(v, " \"=\n\t") {
			v = strconv.Quote(v)
		}
		rest.WriteString(v)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteString(rest.String())
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// logError logs each error of a joined error as its own line, so that a run
// with three bad references reports three lines, each naming its variable.
func logError(log *slog.Logger, msg string, err error) {
	for _, e := range sources.Errors(err) {
		log.Error(msg, "err", e.Error())
	}
}
