package main

import (
	"errors"
	"io"
	"log/slog"
)

// newLogger writes hush's own logs to stderr. Text logs carry no time stamp:
// container runtimes stamp every line already. No value ever reaches a
// record: secrets are sources.Secret, whose every formatting says
// "[redacted]", and errors are built from names and references only.
func newLogger(o options, w io.Writer) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts)).With("logger", "hush")
	}
	hopts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	return slog.New(slog.NewTextHandler(w, hopts)).With("logger", "hush")
}

// logError logs each error of a joined error as its own line, so that a run
// with three bad references reports three lines, each naming its variable.
func logError(log *slog.Logger, msg string, err error) {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			logError(log, msg, e)
		}
		return
	}
	log.Error(msg, "err", err.Error())
}
