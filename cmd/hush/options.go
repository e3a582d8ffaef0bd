package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hushinit/hush/plan"
	"github.com/hushinit/hush/shim"
	"github.com/hushinit/hush/sources"
)

// options is every setting of a hush run, after flags and HUSH_* variables
// have been merged (flags win).
type options struct {
	processGroup   bool
	remapExit      map[int]bool
	rewrite        map[syscall.Signal]syscall.Signal
	user           string
	drain          time.Duration
	onChange       plan.OnChange
	stopSignal     syscall.Signal
	stopTimeout    time.Duration
	deliver        string
	startupTimeout time.Duration
	pollInterval   time.Duration
	debounce       time.Duration
	splay          time.Duration
	keepEnv        []string
	fileEnv        []string
	filesDir       string
	digestKeyFile  string
	revokeOnExit   bool
	listen         []shim.ListenSpec
	readyDelay     time.Duration
	readyTimeout   time.Duration
	noNewPrivs     bool
	logLevel       slog.Level
	logFormat      string
	help           bool
	version        bool
	// dashDash is set when "--" ended the options: what follows is a
	// command even if it is named check or version.
	dashDash bool
}

func defaultOptions() options {
	return options{
		remapExit:      map[int]bool{},
		rewrite:        map[syscall.Signal]syscall.Signal{},
		onChange:       plan.OnChange{Action: plan.ActionRestart},
		stopSignal:     syscall.SIGTERM,
		stopTimeout:    10 * time.Second,
		deliver:        "env",
		startupTimeout: 60 * time.Second,
		pollInterval:   30 * time.Second,
		debounce:       2 * time.Second,
		readyTimeout:   60 * time.Second,
		logLevel:       slog.LevelInfo,
		logFormat:      "text",
	}
}

// option is one setting: its flag names, its HUSH_* variable and how a
// string becomes its value. Repeatable options take comma lists in the
// environment; list options take them in a flag too, and skip empty items.
type option struct {
	long, short string
	isBool      bool
	repeatable  bool
	list        bool
	set         func(o *options, v string) error // one item
	reset       func(o *options)                 // clears a repeatable before flags replace the env's list
}

// apply sets one occurrence of opt, from the environment or a flag.
func (opt option) apply(o *options, v string, fromEnv bool) error {
	if !opt.list && !(fromEnv && opt.repeatable) {
		if fromEnv {
			v = strings.TrimSpace(v)
		}
		return opt.set(o, v)
	}
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item == "" && opt.list {
			continue
		}
		if err := opt.set(o, item); err != nil {
			return err
		}
	}
	return nil
}

func (opt option) envName() string {
	return "HUSH_" + strings.ToUpper(strings.ReplaceAll(opt.long, "-", "_"))
}

func optionTable() []option {
	return []option{
		{long: "process-group", short: "g", isBool: true, set: func(o *options, v string) (err error) {
			o.processGroup, err = parseBool(v)
			return err
		}},
		{long: "remap-exit", short: "e", repeatable: true, reset: func(o *options) { o.remapExit = map[int]bool{} },
			set: func(o *options, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 255 {
					return fmt.Errorf("exit status %q is not a number from 0 to 255", v)
				}
				o.remapExit[n] = true
				return nil
			}},
		{long: "rewrite", short: "r", repeatable: true, reset: func(o *options) { o.rewrite = map[syscall.Signal]syscall.Signal{} },
			set: func(o *options, v string) error {
				from, to, err := shim.ParseRewrite(v)
				if err != nil {
					return err
				}
				o.rewrite[from] = to
				return nil
			}},
		{long: "user", set: func(o *options, v string) error {
			if v == "" {
				return errors.New("empty user")
			}
			o.user = v
			return nil
		}},
		{long: "drain", set: durationSetter(func(o *options) *time.Duration { return &o.drain })},
		{long: "on-change", set: func(o *options, v string) error {
			oc, err := parseOnChange(v)
			o.onChange = oc
			return err
		}},
		{long: "stop-signal", set: func(o *options, v string) (err error) {
			o.stopSignal, err = shim.ParseSignal(v)
			return err
		}},
		{long: "stop-timeout", set: positiveDurationSetter(func(o *options) *time.Duration { return &o.stopTimeout })},
		{long: "deliver", set: func(o *options, v string) error {
			if v != "env" && v != "file" {
				return fmt.Errorf("%q is not env or file", v)
			}
			o.deliver = v
			return nil
		}},
		{long: "startup-timeout", set: positiveDurationSetter(func(o *options) *time.Duration { return &o.startupTimeout })},
		{long: "poll-interval", set: positiveDurationSetter(func(o *options) *time.Duration { return &o.pollInterval })},
		{long: "debounce", set: durationSetter(func(o *options) *time.Duration { return &o.debounce })},
		{long: "splay", set: durationSetter(func(o *options) *time.Duration { return &o.splay })},
		{long: "keep-env", repeatable: true, reset: func(o *options) { o.keepEnv = nil },
			set: func(o *options, v string) error {
				if v == "" || strings.Contains(v, "=") {
					return fmt.Errorf("%q is not a variable name", v)
				}
				o.keepEnv = append(o.keepEnv, v)
				return nil
			}},
		{long: "file-env", repeatable: true, list: true, reset: func(o *options) { o.fileEnv = nil },
			set: func(o *options, v string) error {
				if err := sources.ValidFileEnvPattern(v); err != nil {
					return err
				}
				o.fileEnv = append(o.fileEnv, v)
				return nil
			}},
		{long: "files-dir", set: func(o *options, v string) error {
			o.filesDir = v
			return nil
		}},
		{long: "digest-key-file", set: func(o *options, v string) error {
			o.digestKeyFile = v
			return nil
		}},
		{long: "revoke-on-exit", isBool: true, set: func(o *options, v string) (err error) {
			o.revokeOnExit, err = parseBool(v)
			return err
		}},
		{long: "listen", repeatable: true, list: true, reset: func(o *options) { o.listen = nil },
			set: func(o *options, v string) error {
				spec, err := shim.ParseListen(v)
				if err != nil {
					return err
				}
				o.listen = append(o.listen, spec)
				return nil
			}},
		{long: "ready-delay", set: durationSetter(func(o *options) *time.Duration { return &o.readyDelay })},
		{long: "ready-timeout", set: positiveDurationSetter(func(o *options) *time.Duration { return &o.readyTimeout })},
		{long: "no-new-privs", isBool: true, set: func(o *options, v string) (err error) {
			o.noNewPrivs, err = parseBool(v)
			return err
		}},
		{long: "log-level", set: func(o *options, v string) error {
			return o.logLevel.UnmarshalText([]byte(v))
		}},
		{long: "verbose", short: "v", isBool: true, set: func(o *options, v string) error {
			on, err := parseBool(v)
			if on {
				o.logLevel = slog.LevelDebug
			}
			return err
		}},
		{long: "log-format", set: func(o *options, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("%q is not text or json", v)
			}
			o.logFormat = v
			return nil
		}},
		{long: "help", short: "h", isBool: true, set: func(o *options, v string) (err error) {
			o.help, err = parseBool(v)
			return err
		}},
		// -V as tini and dumb-init spell it.
		{long: "version", short: "V", isBool: true, set: func(o *options, v string) (err error) {
			o.version, err = parseBool(v)
			return err
		}},
	}
}

func durationSetter(field func(*options) *time.Duration) func(*options, string) error {
	return func(o *options, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not a duration such as 10s or 1m30s", v)
		}
		*field(o) = d
		return nil
	}
}

// positiveDurationSetter is for the settings where zero would mean "never
// wait" (a deadline already passed, a retry loop with no pause).
func positiveDurationSetter(field func(*options) *time.Duration) func(*options, string) error {
	set := durationSetter(field)
	return func(o *options, v string) error {
		if err := set(o, v); err != nil {
			return err
		}
		if *field(o) == 0 {
			return fmt.Errorf("%q must be more than zero", v)
		}
		return nil
	}
}

// parseBool reads a boolean option; an empty value (--process-group=) is
// false, as an empty HUSH_* variable is unset.
func parseBool(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	return sources.ParseBool(v)
}

func parseOnChange(v string) (plan.OnChange, error) {
	switch v {
	case plan.ActionRestart, plan.ActionRolling, plan.ActionExit, plan.ActionNone:
		return plan.OnChange{Action: v}, nil
	}
	if name, ok := strings.CutPrefix(v, "signal:"); ok {
		sig, err := shim.ParseSignal(name)
		if err != nil {
			return plan.OnChange{}, err
		}
		return plan.OnChange{Action: plan.ActionSignal, Signal: sig}, nil
	}
	return plan.OnChange{}, fmt.Errorf("%q is not restart, rolling, signal:SIGNAME, exit or none", v)
}

// flagValue adapts an option to the flag package.
type flagValue struct {
	opt  option
	o    *options
	seen bool
}

func (f *flagValue) String() string   { return "" }
func (f *flagValue) IsBoolFlag() bool { return f.opt.isBool }
func (f *flagValue) Set(v string) error {
	if f.opt.repeatable && !f.seen && f.opt.reset != nil {
		f.opt.reset(f.o) // flags replace the environment's list
	}
	f.seen = true
	return f.opt.apply(f.o, v, false)
}

// parseOptions merges HUSH_* variables and flags. It stops at the first
// argument that is not an option (or after "--"), so that the command's own
// flags are never taken for hush's.
func parseOptions(args []string, getenv func(string) string) (options, []string, error) {
	o := defaultOptions()
	for _, opt := range optionTable() {
		v := getenv(opt.envName())
		if v == "" {
			continue
		}
		if err := opt.apply(&o, v, true); err != nil {
			return o, nil, fmt.Errorf("%s: %w", opt.envName(), err)
		}
	}
	return parseOptionsOnto(o, args)
}

// parseOptionsOnto applies flags on top of o.
func parseOptionsOnto(o options, args []string) (options, []string, error) {
	fs := flag.NewFlagSet("hush", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, opt := range optionTable() {
		fv := &flagValue{opt: opt, o: &o}
		fs.Var(fv, opt.long, "")
		if opt.short != "" {
			fs.Var(fv, opt.short, "")
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = true
			return o, nil, nil
		}
		return o, nil, asWritten(err, args)
	}
	rest := fs.Args()
	used := len(args) - len(rest)
	o.dashDash = used > 0 && args[used-1] == "--"
	return o, rest, nil
}

// asWritten names an option the way the user wrote it: the flag package
// reports --bogus as -bogus and --stop-signal as -stop-signal.
func asWritten(err error, args []string) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown option %s", spelled(name, args))
	}
	for _, marker := range []string{"for flag -", "flag needs an argument: -"} {
		before, after, ok := strings.Cut(msg, marker)
		if !ok {
			continue
		}
		name, rest, _ := strings.Cut(after, ":")
		if rest != "" {
			rest = ":" + rest
		}
		return fmt.Errorf("%s%s%s", before+strings.TrimSuffix(marker, "-"), spelled(name, args), rest)
	}
	return err
}

// spelled finds how name was written on the command line (-x, --name).
func spelled(name string, args []string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		if n, _, _ := strings.Cut(a, "="); strings.HasPrefix(n, "-") && strings.TrimLeft(n, "-") == name {
			return n
		}
	}
	return "-" + name
}

// isOption reports whether arg is one of hush's options (-g, --deliver,
// --deliver=file, ...).
func isOption(arg string) bool {
	return optionFor(arg) != nil
}

func optionFor(arg string) *option {
	name, _, _ := strings.Cut(arg, "=")
	if !strings.HasPrefix(name, "-") {
		return nil
	}
	name = strings.TrimLeft(name, "-")
	for _, opt := range optionTable() {
		if opt.long == name || (opt.short != "" && opt.short == name) {
			return &opt
		}
	}
	return nil
}

// optionEnvName is the HUSH_* variable of the option arg names.
func optionEnvName(arg string) string {
	if opt := optionFor(arg); opt != nil {
		return opt.envName()
	}
	return "HUSH_..."
}
