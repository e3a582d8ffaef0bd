package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func textLogger(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	o := defaultOptions()
	o.logLevel = level
	return newLogger(o, &buf), &buf
}

func TestTextHandlerFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{"message only",
			func(l *slog.Logger) { l.Info("child started") },
			"hush: info: child started\n"},
		{"attrs",
			func(l *slog.Logger) {
				l.Info("child restarted with new secrets", "pid", 42, "stop_took", 12*time.Millisecond)
			},
			"hush: info: child restarted with new secrets pid=42 stop_took=12ms\n"},
		{"err continues the message",
			func(l *slog.Logger) {
				l.Error("cannot start", "err", "DB_PASSWORD: ref+file:///run/secrets/db: open /run/secrets/db: no such file or directory")
			},
			"hush: error: cannot start: DB_PASSWORD: ref+file:///run/secrets/db: open /run/secrets/db: no such file or directory\n"},
		{"err as an error value, attrs after it",
			func(l *slog.Logger) { l.Warn("x", "a", 1, "err", errors.New("boom"), "b", "two words") },
			"hush: warn: x: boom a=1 b=\"two words\"\n"},
		{"quoting",
			func(l *slog.Logger) {
				l.Info("m", "empty", "", "eq", "a=b", "quote", `say "hi"`, "nl", "a\nb", "tab", "a\tb", "plain", "ref+file:///x")
			},
			"hush: info: m empty=\"\" eq=\"a=b\" quote=\"say \\\"hi\\\"\" nl=\"a\\nb\" tab=\"a\\tb\" plain=ref+file:///x\n"},
		{"slice value",
			func(l *slog.Logger) { l.Info("secrets changed", "vars", []string{"A", "B"}) },
			"hush: info: secrets changed vars=\"[A B]\"\n"},
		{"bool and duration",
			func(l *slog.Logger) { l.Info("m", "group", true, "window", 2*time.Second) },
			"hush: info: m group=true window=2s\n"},
		{"groups are flattened",
			func(l *slog.Logger) { l.WithGroup("g").Info("m", "k", "v") },
			"hush: info: m k=v\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, buf := textLogger(slog.LevelDebug)
			tt.log(l)
			if got := buf.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTextHandlerLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level slog.Level
		want  []string
	}{
		{slog.LevelDebug, []string{"debug", "info", "warn", "error"}},
		{slog.LevelInfo, []string{"info", "warn", "error"}},
		{slog.LevelWarn, []string{"warn", "error"}},
		{slog.LevelError, []string{"error"}},
	}
	for _, tt := range tests {
		l, buf := textLogger(tt.level)
		l.Debug("d")
		l.Info("i")
		l.Warn("w")
		l.Error("e")
		var got []string
		for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
			if line == "" {
				continue
			}
			level := strings.Split(line, ": ")[1]
			got = append(got, level)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("level %v: logged %q, want %q", tt.level, got, tt.want)
		}
	}
}

func TestVerboseLogsDebug(t *testing.T) {
	t.Parallel()
	o, _, err := parseOptions([]string{"-v", "cmd"}, envFunc())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	newLogger(o, &buf).Debug("reaped orphan", "pid", 7)
	if got := buf.String(); got != "hush: debug: reaped orphan pid=7\n" {
		t.Errorf("-v: got %q", got)
	}
}

func TestTextHandlerWithAttrs(t *testing.T) {
	t.Parallel()
	l, buf := textLogger(slog.LevelInfo)
	child := l.With("component", "rotation")
	grand := child.With("n", 2)
	child.Info("m", "k", "v")
	l.Info("parent")
	grand.Info("g")
	child.Info("again")
	want := "hush: info: m component=rotation k=v\n" +
		"hush: info: parent\n" +
		"hush: info: g component=rotation n=2\n" +
		"hush: info: again component=rotation\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// Concurrent records never interleave within a line.
func TestTextHandlerConcurrent(t *testing.T) {
	t.Parallel()
	l, buf := textLogger(slog.LevelInfo)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			l.With("w", i).Info("line", "k", "v")
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20", len(lines))
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "hush: info: line w=") || !strings.HasSuffix(line, " k=v") {
			t.Errorf("mangled line %q", line)
		}
	}
}

func TestJSONFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	o := defaultOptions()
	o.logFormat = "json"
	newLogger(o, &buf).Info("child started", "pid", 3)
	got := buf.String()
	for _, part := range []string{`"msg":"child started"`, `"pid":3`, `"logger":"hush"`, `"level":"INFO"`} {
		if !strings.Contains(got, part) {
			t.Errorf("JSON record %q lacks %s", got, part)
		}
	}
}

func TestLogError(t *testing.T) {
	t.Parallel()
	e1 := errors.New("A: ref+file:///a: not found")
	e2 := errors.New("B: ref+file:///b: not found")
	e3 := errors.New("C: ref+file:///c: too large")
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"one error", e1, []string{"hush: error: cannot start: A: ref+file:///a: not found"}},
		{"joined", errors.Join(e1, e2, e3), []string{
			"hush: error: cannot start: A: ref+file:///a: not found",
			"hush: error: cannot start: B: ref+file:///b: not found",
			"hush: error: cannot start: C: ref+file:///c: too large",
		}},
		{"nested joins", errors.Join(e1, errors.Join(e2, e3)), []string{
			"hush: error: cannot start: A: ref+file:///a: not found",
			"hush: error: cannot start: B: ref+file:///b: not found",
			"hush: error: cannot start: C: ref+file:///c: too large",
		}},
		{"wrapped single", fmt.Errorf("watch: %w", e1), []string{
			"hush: error: cannot start: watch: A: ref+file:///a: not found",
		}},
	}
	for _, tt := range tests {
		l, buf := textLogger(slog.LevelInfo)
		logError(l, "cannot start", tt.err)
		got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: logged\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

// TestLogBounded: no attribute makes a line longer than about maxAttr, in
// either format.
func TestLogBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 50_000)
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		o := defaultOptions()
		o.logFormat = format
		newLogger(o, &buf).Warn("retrying", "err", errors.New("find the mount of secret/"+long), "path", long, "n", 3)
		if n := buf.Len(); n > 3*maxAttr+200 {
			t.Errorf("%s: a %d-byte line", format, n)
		}
		if !utf8.Valid(buf.Bytes()) || !strings.Contains(buf.String(), "find the mount of secret/") {
			t.Errorf("%s: %.200q", format, buf.String())
		}
	}
}
