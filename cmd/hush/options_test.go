package main

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hushinit/hush/plan"
)

// envFunc turns NAME=value pairs into a getenv.
func envFunc(pairs ...string) func(string) string {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestParseOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, rest, err := parseOptions([]string{"npm", "start"}, envFunc())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rest, []string{"npm", "start"}) {
		t.Errorf("rest = %q", rest)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"processGroup", o.processGroup, false},
		{"remapExit", len(o.remapExit), 0},
		{"rewrite", len(o.rewrite), 0},
		{"user", o.user, ""},
		{"drain", o.drain, time.Duration(0)},
		{"onChange", o.onChange, plan.OnChange{Action: "restart"}},
		{"stopSignal", o.stopSignal, syscall.SIGTERM},
		{"stopTimeout", o.stopTimeout, 10 * time.Second},
		{"deliver", o.deliver, "env"},
		{"startupTimeout", o.startupTimeout, 60 * time.Second},
		{"pollInterval", o.pollInterval, 30 * time.Second},
		{"debounce", o.debounce, 2 * time.Second},
		{"splay", o.splay, time.Duration(0)},
		{"keepEnv", len(o.keepEnv), 0},
		{"fileEnv", len(o.fileEnv), 0},
		{"filesDir", o.filesDir, ""},
		{"logLevel", o.logLevel, slog.LevelInfo},
		{"logFormat", o.logFormat, "text"},
		{"help", o.help, false},
		{"version", o.version, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if o.remapExit == nil || o.rewrite == nil {
		t.Error("default maps are nil")
	}
}

// TestParseOptionsEachOption sets every option once by flag (long and short
// forms) and once by its HUSH_* variable.
func TestParseOptionsEachOption(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string // flags; "cmd" is appended
		env   string   // NAME=value, same setting
		check func(o options) bool
	}{
		{"process group", []string{"--process-group"}, "HUSH_PROCESS_GROUP=1",
			func(o options) bool { return o.processGroup }},
		{"process group short", []string{"-g"}, "HUSH_PROCESS_GROUP=true",
			func(o options) bool { return o.processGroup }},
		{"remap exit", []string{"--remap-exit", "3", "-e", "4"}, "HUSH_REMAP_EXIT=3,4",
			func(o options) bool { return maps.Equal(o.remapExit, map[int]bool{3: true, 4: true}) }},
		{"remap exit spaces", []string{"-e", "3", "-e=4"}, "HUSH_REMAP_EXIT= 3 , 4 ",
			func(o options) bool { return maps.Equal(o.remapExit, map[int]bool{3: true, 4: true}) }},
		{"rewrite", []string{"-r", "TERM:INT", "--rewrite", "HUP:0"}, "HUSH_REWRITE=TERM:INT,HUP:0",
			func(o options) bool {
				return maps.Equal(o.rewrite, map[syscall.Signal]syscall.Signal{syscall.SIGTERM: syscall.SIGINT, syscall.SIGHUP: 0})
			}},
		{"user", []string{"--user", "app:staff"}, "HUSH_USER=app:staff",
			func(o options) bool { return o.user == "app:staff" }},
		{"drain", []string{"--drain", "5s"}, "HUSH_DRAIN=5s",
			func(o options) bool { return o.drain == 5*time.Second }},
		{"on-change", []string{"--on-change", "signal:HUP"}, "HUSH_ON_CHANGE=signal:HUP",
			func(o options) bool { return o.onChange == plan.OnChange{Action: "signal", Signal: syscall.SIGHUP} }},
		{"on-change rolling", []string{"--on-change", "rolling"}, "HUSH_ON_CHANGE=rolling",
			func(o options) bool { return o.onChange == plan.OnChange{Action: plan.ActionRolling} }},
		{"listen", []string{"--listen", "tcp://:8080", "--listen", "unix:///run/a.sock?name=a"},
			"HUSH_LISTEN=tcp://:8080,unix:///run/a.sock?name=a",
			func(o options) bool {
				return len(o.listen) == 2 && o.listen[0].Address == ":8080" && o.listen[1].Name == "a"
			}},
		{"ready delay", []string{"--ready-delay", "2s"}, "HUSH_READY_DELAY=2s",
			func(o options) bool { return o.readyDelay == 2*time.Second }},
		{"ready timeout", []string{"--ready-timeout", "90s"}, "HUSH_READY_TIMEOUT=1m30s",
			func(o options) bool { return o.readyTimeout == 90*time.Second }},
		{"no new privs", []string{"--no-new-privs"}, "HUSH_NO_NEW_PRIVS=1",
			func(o options) bool { return o.noNewPrivs }},
		{"stop signal", []string{"--stop-signal", "SIGINT"}, "HUSH_STOP_SIGNAL=INT",
			func(o options) bool { return o.stopSignal == syscall.SIGINT }},
		{"stop timeout", []string{"--stop-timeout", "1m30s"}, "HUSH_STOP_TIMEOUT=90s",
			func(o options) bool { return o.stopTimeout == 90*time.Second }},
		{"deliver", []string{"--deliver", "file"}, "HUSH_DELIVER=file",
			func(o options) bool { return o.deliver == "file" }},
		{"startup timeout", []string{"--startup-timeout", "3s"}, "HUSH_STARTUP_TIMEOUT=3s",
			func(o options) bool { return o.startupTimeout == 3*time.Second }},
		{"poll interval", []string{"--poll-interval", "1m"}, "HUSH_POLL_INTERVAL=1m",
			func(o options) bool { return o.pollInterval == time.Minute }},
		{"debounce", []string{"--debounce", "0s"}, "HUSH_DEBOUNCE=0",
			func(o options) bool { return o.debounce == 0 }},
		{"splay", []string{"--splay", "250ms"}, "HUSH_SPLAY=250ms",
			func(o options) bool { return o.splay == 250*time.Millisecond }},
		{"keep env", []string{"--keep-env", "VAULT_TOKEN", "--keep-env", "HUSH_X"}, "HUSH_KEEP_ENV=VAULT_TOKEN,HUSH_X",
			func(o options) bool { return slices.Equal(o.keepEnv, []string{"VAULT_TOKEN", "HUSH_X"}) }},
		{"file env", []string{"--file-env", "DB_*", "--file-env", "API_KEY,X?"}, "HUSH_FILE_ENV=DB_*,API_KEY,X?",
			func(o options) bool { return slices.Equal(o.fileEnv, []string{"DB_*", "API_KEY", "X?"}) }},
		{"file env spaces and empty items", []string{"--file-env", " DB_* , ,API_KEY,"}, "HUSH_FILE_ENV= DB_*,, API_KEY ,",
			func(o options) bool { return slices.Equal(o.fileEnv, []string{"DB_*", "API_KEY"}) }},
		{"stop timeout spaces", []string{"--stop-timeout", "90s"}, "HUSH_STOP_TIMEOUT= 90s ",
			func(o options) bool { return o.stopTimeout == 90*time.Second }},
		{"files dir", []string{"--files-dir", "/run/hush"}, "HUSH_FILES_DIR=/run/hush",
			func(o options) bool { return o.filesDir == "/run/hush" }},
		{"log level", []string{"--log-level", "warn"}, "HUSH_LOG_LEVEL=WARN",
			func(o options) bool { return o.logLevel == slog.LevelWarn }},
		{"verbose", []string{"-v"}, "HUSH_VERBOSE=yes",
			func(o options) bool { return o.logLevel == slog.LevelDebug }},
		{"verbose long", []string{"--verbose"}, "HUSH_VERBOSE=on",
			func(o options) bool { return o.logLevel == slog.LevelDebug }},
		{"log format", []string{"--log-format", "json"}, "HUSH_LOG_FORMAT=json",
			func(o options) bool { return o.logFormat == "json" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, rest, err := parseOptions(append(slices.Clone(tt.args), "cmd"), envFunc())
			if err != nil || !slices.Equal(rest, []string{"cmd"}) {
				t.Fatalf("flags %q: rest %q, err %v", tt.args, rest, err)
			}
			if !tt.check(o) {
				t.Errorf("flags %q: not applied: %+v", tt.args, o)
			}
			o, rest, err = parseOptions([]string{"cmd"}, envFunc(tt.env))
			if err != nil || !slices.Equal(rest, []string{"cmd"}) {
				t.Fatalf("env %s: rest %q, err %v", tt.env, rest, err)
			}
			if !tt.check(o) {
				t.Errorf("env %s: not applied: %+v", tt.env, o)
			}
		})
	}
}

func TestParseOptionsFlagsWin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(o options) bool
	}{
		{"duration", []string{"--stop-timeout", "5s"}, []string{"HUSH_STOP_TIMEOUT=20s"},
			func(o options) bool { return o.stopTimeout == 5*time.Second }},
		{"bool off over env on", []string{"-g=false"}, []string{"HUSH_PROCESS_GROUP=1"},
			func(o options) bool { return !o.processGroup }},
		{"string", []string{"--deliver", "env"}, []string{"HUSH_DELIVER=file"},
			func(o options) bool { return o.deliver == "env" }},
		{"signal", []string{"--stop-signal", "QUIT"}, []string{"HUSH_STOP_SIGNAL=INT"},
			func(o options) bool { return o.stopSignal == syscall.SIGQUIT }},
		{"log level over verbose env", []string{"--log-level", "error"}, []string{"HUSH_VERBOSE=1"},
			func(o options) bool { return o.logLevel == slog.LevelError }},
		// Repeatable flags replace the environment's list, they do not add to it.
		{"remap exit replaces", []string{"-e", "5"}, []string{"HUSH_REMAP_EXIT=3,4"},
			func(o options) bool { return maps.Equal(o.remapExit, map[int]bool{5: true}) }},
		{"remap exit short and long add up", []string{"-e", "5", "--remap-exit", "6"}, []string{"HUSH_REMAP_EXIT=3,4"},
			func(o options) bool { return maps.Equal(o.remapExit, map[int]bool{5: true, 6: true}) }},
		{"rewrite replaces", []string{"-r", "INT:0"}, []string{"HUSH_REWRITE=TERM:INT,HUP:0"},
			func(o options) bool {
				return maps.Equal(o.rewrite, map[syscall.Signal]syscall.Signal{syscall.SIGINT: 0})
			}},
		{"keep env replaces", []string{"--keep-env", "B"}, []string{"HUSH_KEEP_ENV=A"},
			func(o options) bool { return slices.Equal(o.keepEnv, []string{"B"}) }},
		{"file env replaces", []string{"--file-env", "B_*"}, []string{"HUSH_FILE_ENV=A_*"},
			func(o options) bool { return slices.Equal(o.fileEnv, []string{"B_*"}) }},
		{"env list kept without the flag", []string{"-g"}, []string{"HUSH_REMAP_EXIT=3,4"},
			func(o options) bool { return maps.Equal(o.remapExit, map[int]bool{3: true, 4: true}) }},
		{"empty env is unset", nil, []string{"HUSH_STOP_TIMEOUT="},
			func(o options) bool { return o.stopTimeout == 10*time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, _, err := parseOptions(append(slices.Clone(tt.args), "cmd"), envFunc(tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("args %q env %q: got %+v", tt.args, tt.env, o)
			}
		})
	}
}

func TestParseOptionsBoolEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  bool
		ok    bool
	}{
		{"1", true, true},
		{"true", true, true},
		{"TRUE", true, true},
		{"yes", true, true},
		{"on", true, true},
		{"0", false, true},
		{"false", false, true},
		{"False", false, true},
		{"no", false, true},
		{"off", false, true},
		{"garbage", false, false},
		{"2", false, false},
		{"y", false, false},
	}
	for _, tt := range tests {
		o, _, err := parseOptions([]string{"cmd"}, envFunc("HUSH_PROCESS_GROUP="+tt.value))
		if !tt.ok {
			if err == nil {
				t.Errorf("HUSH_PROCESS_GROUP=%s: no error", tt.value)
			} else if !strings.Contains(err.Error(), "HUSH_PROCESS_GROUP") || !strings.Contains(err.Error(), tt.value) {
				t.Errorf("HUSH_PROCESS_GROUP=%s: error %q does not name the variable and value", tt.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("HUSH_PROCESS_GROUP=%s: %v", tt.value, err)
			continue
		}
		if o.processGroup != tt.want {
			t.Errorf("HUSH_PROCESS_GROUP=%s: processGroup = %v, want %v", tt.value, o.processGroup, tt.want)
		}
	}
}

func TestParseOptionsStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantRest []string
		group    bool
		remap    int
	}{
		{"at the first non-option", []string{"-g", "npm", "-e", "3", "--", "x"}, []string{"npm", "-e", "3", "--", "x"}, true, 0},
		{"after --", []string{"--", "-g", "npm"}, []string{"-g", "npm"}, false, 0},
		{"options then --", []string{"-e", "3", "--", "--", "npm"}, []string{"--", "npm"}, false, 1},
		{"a lone dash is a command", []string{"-", "-g"}, []string{"-", "-g"}, false, 0},
		{"subcommand names are arguments", []string{"-g", "check", "-e", "3"}, []string{"check", "-e", "3"}, true, 0},
		{"nothing", nil, []string{}, false, 0},
		{"only options", []string{"-g"}, []string{}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, rest, err := parseOptions(tt.args, envFunc())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rest, tt.wantRest) {
				t.Errorf("rest = %q, want %q", rest, tt.wantRest)
			}
			if o.processGroup != tt.group || len(o.remapExit) != tt.remap {
				t.Errorf("processGroup %v remapExit %v", o.processGroup, o.remapExit)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   string
		parts []string // each must appear in the error
	}{
		{"unknown flag", []string{"--bogus", "cmd"}, "", []string{"bogus"}},
		{"option after the command is not parsed", []string{"cmd", "-e"}, "", nil},
		{"value missing at the end", []string{"-e"}, "", []string{"-e"}},
		{"remap exit range", []string{"-e", "256", "cmd"}, "", []string{"-e", "256"}},
		{"remap exit not a number", []string{"--remap-exit", "x", "cmd"}, "", []string{"remap-exit", `"x"`}},
		{"remap exit negative env", nil, "HUSH_REMAP_EXIT=3,-1", []string{"HUSH_REMAP_EXIT", `"-1"`}},
		{"rewrite", []string{"-r", "15", "cmd"}, "", []string{"-r", "15"}},
		{"rewrite env", nil, "HUSH_REWRITE=TERM:INT,1:65", []string{"HUSH_REWRITE", "1:65"}},
		{"user empty", []string{"--user=", "cmd"}, "", []string{"user"}},
		{"drain", []string{"--drain", "soon", "cmd"}, "", []string{"drain", "soon"}},
		{"negative duration", []string{"--stop-timeout", "-1s", "cmd"}, "", []string{"stop-timeout", "-1s"}},
		{"duration env", nil, "HUSH_STOP_TIMEOUT=20", []string{"HUSH_STOP_TIMEOUT", `"20"`}},
		{"startup timeout env", nil, "HUSH_STARTUP_TIMEOUT=x", []string{"HUSH_STARTUP_TIMEOUT"}},
		{"stop signal", []string{"--stop-signal", "BOGUS", "cmd"}, "", []string{"stop-signal", "BOGUS"}},
		{"stop signal env", nil, "HUSH_STOP_SIGNAL=99", []string{"HUSH_STOP_SIGNAL", "99"}},
		{"deliver", []string{"--deliver", "disk", "cmd"}, "", []string{"deliver", "disk"}},
		{"keep env", []string{"--keep-env", "A=B", "cmd"}, "", []string{"keep-env", "A=B"}},
		{"file env", []string{"--file-env", "DB/*", "cmd"}, "", []string{"file-env", "DB/*"}},
		{"file env bad glob env", nil, "HUSH_FILE_ENV=[", []string{"HUSH_FILE_ENV"}},
		{"log level", []string{"--log-level", "loud", "cmd"}, "", []string{"log-level", "loud"}},
		{"log format", []string{"--log-format", "xml", "cmd"}, "", []string{"log-format", "xml"}},
		{"log format env", nil, "HUSH_LOG_FORMAT=xml", []string{"HUSH_LOG_FORMAT", "xml"}},
		{"bool flag value", []string{"-g=maybe", "cmd"}, "", []string{"-g", "maybe"}},
		{"on-change", []string{"--on-change", "reload", "cmd"}, "", []string{"on-change", "reload"}},
		{"on-change env", nil, "HUSH_ON_CHANGE=signal:bogus", []string{"HUSH_ON_CHANGE", "bogus"}},
		{"listen", []string{"--listen", "http://:80", "cmd"}, "", []string{"listen", "http://:80"}},
		{"listen env", nil, "HUSH_LISTEN=tcp://:80,tcp://:99999", []string{"HUSH_LISTEN", "99999"}},
		{"ready timeout zero", []string{"--ready-timeout", "0", "cmd"}, "", []string{"ready-timeout"}},
		{"ready delay", []string{"--ready-delay", "later", "cmd"}, "", []string{"ready-delay", "later"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var env []string
			if tt.env != "" {
				env = append(env, tt.env)
			}
			_, _, err := parseOptions(tt.args, envFunc(env...))
			if tt.parts == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("args %q env %q: no error", tt.args, tt.env)
			}
			for _, p := range tt.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
		})
	}
}

func TestParseOnChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want plan.OnChange
		ok   bool
	}{
		{"restart", plan.OnChange{Action: "restart"}, true},
		{"exit", plan.OnChange{Action: "exit"}, true},
		{"none", plan.OnChange{Action: "none"}, true},
		{"signal:HUP", plan.OnChange{Action: "signal", Signal: syscall.SIGHUP}, true},
		{"signal:SIGUSR1", plan.OnChange{Action: "signal", Signal: syscall.SIGUSR1}, true},
		{"signal:10", plan.OnChange{Action: "signal", Signal: syscall.SIGUSR1}, true},
		{"signal:RTMIN+1", plan.OnChange{Action: "signal", Signal: 35}, true},
		{"signal:bogus", plan.OnChange{}, false},
		{"signal:", plan.OnChange{}, false},
		{"signal", plan.OnChange{}, false},
		{"Restart", plan.OnChange{}, false},
		{"", plan.OnChange{}, false},
		{"kill", plan.OnChange{}, false},
	}
	for _, tt := range tests {
		got, err := parseOnChange(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseOnChange(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && got != tt.want {
			t.Errorf("parseOnChange(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if tt.ok {
			continue
		}
		// Through the flag too: the error names the option.
		_, _, err = parseOptions([]string{"--on-change", tt.in, "cmd"}, envFunc())
		if err == nil || !strings.Contains(err.Error(), "on-change") {
			t.Errorf("--on-change %q: error %v does not name the option", tt.in, err)
		}
	}
}

func TestParseOptionsHelpAndVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"-g", "--help", "cmd"}} {
		o, _, err := parseOptions(args, envFunc())
		if err != nil || !o.help {
			t.Errorf("%q: help=%v err=%v", args, o.help, err)
		}
	}
	o, _, err := parseOptions([]string{"--version"}, envFunc())
	if err != nil || !o.version {
		t.Errorf("--version: version=%v err=%v", o.version, err)
	}
}

// Options after "check" are parsed onto those given before it.
func TestParseOptionsOnto(t *testing.T) {
	t.Parallel()
	o, rest, err := parseOptions([]string{"-g", "check", "--file-env", "*"}, envFunc("HUSH_STOP_TIMEOUT=3s"))
	if err != nil || !slices.Equal(rest, []string{"check", "--file-env", "*"}) {
		t.Fatalf("rest %q err %v", rest, err)
	}
	more, extra, err := parseOptionsOnto(o, rest[1:])
	if err != nil || len(extra) != 0 {
		t.Fatalf("extra %q err %v", extra, err)
	}
	if !more.processGroup || more.stopTimeout != 3*time.Second || !slices.Equal(more.fileEnv, []string{"*"}) {
		t.Errorf("merged options wrong: %+v", more)
	}
}
