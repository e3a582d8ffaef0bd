package plan

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/hushinit/hush/sources"
)

// TestWatchWarnsSignalWithEnv: --on-change signal cannot reach a secret
// delivered in a variable; Watch says so once, and only then.
func TestWatchWarnsSignalWithEnv(t *testing.T) {
	t.Parallel()
	const warning = "--on-change signal cannot change environment variables"
	tests := []struct {
		name     string
		environ  []string
		onChange OnChange
		deliver  bool // --deliver file
		warn     bool
	}{
		{"signal, a variable", []string{"S=ref+mem://s"}, OnChange{Action: ActionSignal, Signal: syscall.SIGHUP}, false, true},
		{"signal, ?as=file", []string{"S=ref+mem://s?as=file"}, OnChange{Action: ActionSignal, Signal: syscall.SIGHUP}, false, false},
		{"signal, --deliver file", []string{"S=ref+mem://s"}, OnChange{Action: ActionSignal, Signal: syscall.SIGHUP}, true, false},
		{"restart, a variable", []string{"S=ref+mem://s"}, OnChange{Action: ActionRestart}, false, false},
		{"signal, no secret", []string{"PATH=/bin"}, OnChange{Action: ActionSignal, Signal: syscall.SIGHUP}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			p := newPlan(t, Config{
				Environ:      tt.environ,
				Backends:     map[string]sources.Backend{"mem": &mem{docs: map[string]string{"s": "v"}}},
				OnChange:     tt.onChange,
				DeliverFiles: tt.deliver,
				Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if _, err := p.Watch(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(logs.String(), warning); got != map[bool]int{true: 1, false: 0}[tt.warn] {
				t.Errorf("%d warnings, want warn=%v; log:\n%s", got, tt.warn, logs.String())
			}
		})
	}
}
