// Command bench measures roost side by side with the real supervisord
// (Debian's supervisor package) on identical supervisord.conf workloads and
// writes the figures, as min/median/max and roost/supervisord ratios, to
// BENCHMARKS.md.
//
//	go run ./bench                 # full run, about 15 minutes; writes ./BENCHMARKS.md
//	go run ./bench -quick -out F   # under 2 minutes: proves the bench works (CI)
//
// It installs nothing: a missing prerequisite is named with the command
// that installs it. Every process it starts is tracked by pid and killed by
// process group at the end (it is also their subreaper, so orphans come
// back to it), and every file it writes is in one work dir, removed unless
// -keep.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command line, resolved into a plan.
type options struct {
	quick, keep, verbose bool
	out, work            string
	roost                string          // a roost binary to measure instead of building ./cmd/roost
	only                 map[string]bool // parts to run; empty: all

	runs        int           // sessions per daemon and N
	ns          []int         // program counts for the sleep sessions
	idle        time.Duration // idle window
	settle      time.Duration // pause after start-up before measuring
	ctlRepsSm   int           // ctl round trips per session, N ≤ 100
	ctlRepsLg   int           // ... N > 100
	restartReps int
	floorReps   int // starts of each floor command per run
	killN       int // the N whose sessions also measure kill -9
	killReps    int // per session
	logBytes    int64
	logRuns     int
	crashWindow time.Duration
	crashRuns   int
	users       []int // per-user master: user counts
	cgN         int   // programs of the cgroups part
}

// ctlReps is how many ctl round trips a session with n programs takes.
func (o *options) ctlReps(n int) int {
	if n > 100 {
		return o.ctlRepsLg
	}
	return o.ctlRepsSm
}

// startTimeout bounds start-up with n programs.
func (o *options) startTimeout(n int) time.Duration {
	return time.Minute + time.Duration(n)*100*time.Millisecond
}

// logTimeout bounds one log-throughput run.
func (o *options) logTimeout() time.Duration {
	return 2*time.Minute + time.Duration(o.logBytes>>20)*100*time.Millisecond
}

// wants reports whether part should run.
func (o *options) wants(part string) bool { return len(o.only) == 0 || o.only[part] }

// The parts -only selects.
var parts = []string{"idle", "sessions", "ctl", "log", "crash", "master", "cgroups", "deploy", "upgrade"}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.BoolVar(&o.quick, "quick", false, "small, fast run (under 2 minutes) that proves the bench works; CI runs it")
	fs.StringVar(&o.out, "out", "", "where to write the report (default: BENCHMARKS.md at the repository root)")
	fs.StringVar(&o.work, "work", "", "work dir for every file the bench writes (default: a new temp dir)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work dir (configs, daemon logs) for inspection")
	fs.BoolVar(&o.verbose, "v", false, "print each measurement as it is taken")
	fs.StringVar(&o.roost, "roost", "", "measure this roost binary instead of building ./cmd/roost (to try a change)")
	runs := fs.Int("runs", 0, "sessions per daemon and workload (default 3; 1 with -quick)")
	users := fs.String("users", "", "comma-separated user counts of the master part (default 1,10,50; 2 with -quick)")
	only := fs.String("only", "", "comma-separated parts to run: "+strings.Join(parts, ","))
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [-quick] [-out FILE] [-work DIR] [-keep] [-runs N] [-users N,…] [-only PARTS] [-roost BIN] [-v]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.only = map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		found := false
		for _, q := range parts {
			found = found || p == q
		}
		if !found {
			return nil, fmt.Errorf("-only: unknown part %q (parts: %s)", p, strings.Join(parts, ","))
		}
		o.only[p] = true
	}
	if o.quick {
		o.runs, o.ns, o.idle, o.settle = 1, []int{10, 100}, 2*time.Second, 500*time.Millisecond
		o.ctlRepsSm, o.ctlRepsLg, o.restartReps, o.killN, o.killReps = 2, 2, 2, 10, 2
		o.floorReps = 5
		o.logBytes, o.logRuns, o.crashWindow, o.crashRuns = 128<<20, 1, 3*time.Second, 1
		o.users = []int{2}
		o.cgN = 10
	} else {
		o.runs, o.ns, o.idle, o.settle = 3, []int{10, 100, 1000}, 30*time.Second, 2*time.Second
		o.ctlRepsSm, o.ctlRepsLg, o.restartReps, o.killN, o.killReps = 10, 5, 10, 10, 20
		o.floorReps = 30
		o.logBytes, o.logRuns, o.crashWindow, o.crashRuns = 1<<30, 3, 10*time.Second, 3
		o.users = []int{1, 10, 50}
		o.cgN = 100
	}
	if *users != "" {
		o.users = nil
		for _, f := range strings.Split(*users, ",") {
			u, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || u < 1 || (o.quick && u > 2) {
				return nil, fmt.Errorf("-users %s: want counts of at least 1 (at most 2 with -quick: roost-alice and roost-bob)", *users)
			}
			o.users = append(o.users, u)
		}
		slices.Sort(o.users)
	}
	if *runs < 0 {
		return nil, fmt.Errorf("-runs %d: must be at least 1", *runs)
	}
	if *runs > 0 {
		o.runs, o.logRuns, o.crashRuns = *runs, *runs, *runs
	}
	return o, nil
}

// buildTags are the tags README.md's install step and scripts/package build
// roost with.
const buildTags = "urfave_cli_no_docs"

// buildArgs is the `go build` command line of the roost binary the bench
// measures: as scripts/package ships it and README.md installs it, static
// (CGO_ENABLED=0, see buildEnv) and with buildTags.
func buildArgs(out string) []string {
	return []string{"build", "-tags", buildTags, "-o", out, "./cmd/roost"}
}

// buildEnv is the environment of that build: no cgo, so no ld.so at each
// start (the .deb's binary is static too).
func buildEnv() []string { return append(os.Environ(), "CGO_ENABLED=0") }

// bench is one run of the benchmark.
type bench struct {
	o       *options
	t       *tracker
	res     *results
	work    string // the work dir
	root    string // the repository root
	self    string // this binary: the writer and idle helper
	started time.Time
	stderr  io.Writer

	supervisord, supervisorctl, cat string
	roostBin                        string   // the roost binary measured
	helloBin, helloWhy              string   // the hello-world Go binary, or why it could not be built
	daemons                         []daemon // supervisord first, roost when it can run
	roostWhy, masterWhy             string   // why roost / its master cannot be measured, or ""
	versions                        map[string]string
}

// logf prints progress to stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "[%4.0fs] %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case writerArg:
			return exitOn(runWriter(args[1:]), stderr)
		case idleArg:
			return exitOn(runIdle(), stderr)
		case "reexec":
			return exitOn(runReexec(args[1:], stdout, stderr), stderr)
		}
	}
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	b := &bench{o: o, t: newTracker(), res: newResults(), started: time.Now(), stderr: stderr,
		versions: map[string]string{}}
	if missing := b.prerequisites(); len(missing) > 0 {
		fmt.Fprintln(stderr, "bench: cannot run; missing prerequisites (nothing was installed):")
		for _, m := range missing {
			fmt.Fprintln(stderr, "  -", m)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return b.main(ctx, stdout)
}

// exitOn prints err, if any, and returns the exit status it implies.
func exitOn(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// prerequisites finds everything the bench needs and lists what is
// missing, with the way to get it.
func (b *bench) prerequisites() []string {
	var missing []string
	if runtime.GOOS != "linux" {
		return []string{"Linux: the bench reads /proc"}
	}
	look := func(name, fix string) string {
		for _, p := range []string{"/usr/bin/" + name, "/bin/" + name} {
			if fileExists(p) {
				return p
			}
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		missing = append(missing, name+": "+fix)
		return ""
	}
	b.supervisord = look("supervisord", "install Debian's supervisor package: apt-get install supervisor")
	b.supervisorctl = look("supervisorctl", "install Debian's supervisor package: apt-get install supervisor")
	b.cat = look("cat", "install coreutils")
	look("sleep", "install coreutils")
	look("sh", "install dash")
	if !fileExists("/bin/sleep") {
		missing = append(missing, "/bin/sleep: the workloads run /bin/sleep infinity; install coreutils")
	}
	if _, err := exec.LookPath("go"); err != nil {
		missing = append(missing, "go: the bench builds roost with `go build`; put Go 1.26 on PATH")
	}
	for _, f := range []string{"/proc/self/smaps_rollup", "/proc/sys/kernel/ns_last_pid", "/proc/thread-self/schedstat"} {
		if !fileExists(f) {
			missing = append(missing, f+": the kernel must provide it (Linux ≥ 4.14 with CONFIG_SCHED_INFO)")
		}
	}
	self, err := os.Executable()
	if err != nil {
		missing = append(missing, "the bench's own path: "+err.Error())
	}
	b.self = self
	if strings.ContainsAny(self, " \t;\"'%") {
		missing = append(missing, "a bench binary path without spaces, quotes, ';' or '%' (it goes into command=): "+self)
	}
	root, err := repoRoot()
	if err != nil {
		missing = append(missing, err.Error())
	}
	b.root = root
	return missing
}

// repoRoot finds the directory of roost's go.mod from the working dir up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working dir: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module roost\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the roost repository: run the bench from inside it (go run ./bench)")
		}
		dir = parent
	}
}

// main runs the plan and writes the report; it returns the exit status.
func (b *bench) main(ctx context.Context, stdout io.Writer) int {
	if b.o.out == "" {
		b.o.out = filepath.Join(b.root, "BENCHMARKS.md")
	}
	if abs, err := filepath.Abs(b.o.out); err == nil {
		b.o.out = abs
	}
	var err error
	if b.o.work == "" {
		b.work, err = os.MkdirTemp("", "roost-bench-")
	} else {
		b.work, err = filepath.Abs(b.o.work)
		if err == nil {
			err = os.MkdirAll(b.work, 0o755)
		}
	}
	if err != nil {
		fmt.Fprintln(b.stderr, "bench: work dir:", err)
		return 1
	}
	defer func() {
		b.t.cleanup()
		if b.o.keep {
			fmt.Fprintln(b.stderr, "bench: work dir kept:", b.work)
		} else if err := os.RemoveAll(b.work); err != nil {
			fmt.Fprintln(b.stderr, "bench: remove work dir:", err)
		}
	}()
	if err := becomeSubreaper(); err != nil {
		fmt.Fprintln(b.stderr, "bench:", err)
		return 1
	}
	nofile, err := raiseNoFile()
	if err != nil {
		fmt.Fprintln(b.stderr, "bench:", err)
		return 1
	}
	b.versions["nofile"] = strconv.FormatUint(nofile, 10)
	loadBefore := loadAvg()
	if err := b.setup(ctx); err != nil {
		fmt.Fprintln(b.stderr, "bench:", err)
		return 1
	}
	err = b.measure(ctx)
	interrupted := ctx.Err() != nil
	if err != nil && !interrupted {
		b.res.note("the run stopped early: %v", err)
	}
	elapsed := time.Since(b.started)
	rep := b.report(loadBefore, loadAvg(), elapsed, interrupted)
	if interrupted {
		fmt.Fprintln(b.stderr, "bench: interrupted; no report written")
		return 130
	}
	if err := writeFileAtomic(b.o.out, keepWalkthrough(b.o.out, rep)); err != nil {
		fmt.Fprintln(b.stderr, "bench:", err)
		return 1
	}
	fmt.Fprintln(stdout, "bench: wrote", b.o.out)
	if b.o.out == filepath.Join(b.root, "BENCHMARKS.md") {
		if err := b.updateReadme(); err != nil {
			fmt.Fprintln(b.stderr, "bench:", err)
			return 1
		}
	}
	code := 0
	if err != nil {
		fmt.Fprintln(b.stderr, "bench:", err)
		code = 1
	}
	if probs := b.res.problems(b.expected()); len(probs) > 0 {
		fmt.Fprintln(b.stderr, "bench: these measurements produced no number:")
		for _, p := range probs {
			fmt.Fprintln(b.stderr, "  -", p)
		}
		code = 1
	}
	b.logf("done in %s", elapsed.Round(time.Second))
	return code
}

// setup builds roost, finds out what it can do yet, and records versions.
func (b *bench) setup(ctx context.Context) error {
	b.daemons = []daemon{supervisordDaemon{supervisord: b.supervisord, supervisorctl: b.supervisorctl}}
	res := b.t.run(ctx, b.work, nil, b.supervisord, "--version")
	if res.Err != nil {
		return fmt.Errorf("supervisord --version: %w", res.Err)
	}
	b.versions["supervisord"] = strings.TrimSpace(string(res.Stdout))
	b.versions["python"] = "unknown"
	if res := b.t.run(ctx, b.work, nil, "/usr/bin/python3", "--version"); res.Err == nil {
		b.versions["python"] = strings.TrimSpace(string(res.Stdout))
	}
	if res := b.t.run(ctx, b.root, os.Environ(), "go", "version"); res.Err == nil {
		b.versions["go"] = strings.TrimSpace(strings.TrimPrefix(string(res.Stdout), "go version "))
	}

	// Build roost once; the timings run the binary, never `go run`.
	bin := filepath.Join(b.work, "roost")
	if b.o.roost != "" {
		abs, err := filepath.Abs(b.o.roost)
		if err != nil || !fileExists(abs) {
			return fmt.Errorf("-roost %s: no such binary", b.o.roost)
		}
		bin = abs
		b.logf("measuring the roost binary %s", bin)
		b.res.note("roost was the binary %s given with -roost, not a build of this tree", bin)
	} else {
		b.logf("building roost: CGO_ENABLED=0 go %s", strings.Join(buildArgs(bin), " "))
		res = b.t.run(ctx, b.root, buildEnv(), "go", buildArgs(bin)...)
		if res.Err != nil {
			return fmt.Errorf("go build ./cmd/roost: %w", res.Err)
		}
	}
	if res := b.t.run(ctx, b.work, env(), bin, "--version"); res.Err == nil {
		b.versions["roost"] = strings.TrimSpace(string(res.Stdout))
	}
	if res := b.t.run(ctx, b.root, os.Environ(), "git", "rev-parse", "--short", "HEAD"); res.Err == nil && b.o.roost == "" {
		b.versions["commit"] = strings.TrimSpace(string(res.Stdout))
	}
	b.roostBin = bin
	if hello, err := b.buildHello(ctx); err != nil {
		b.helloWhy = err.Error()
	} else {
		b.helloBin = hello
	}
	has := func(verb string) bool {
		return b.t.run(ctx, b.work, env(), bin, "help", verb).Err == nil
	}
	switch {
	case !has("run"):
		b.roostWhy = "not available yet (no `roost run`)"
	case !has("status"):
		b.roostWhy = "not available yet (no `roost status`)"
	default:
		b.daemons = append(b.daemons, roostDaemon{bin: bin})
	}
	switch {
	case b.roostWhy != "":
		b.masterWhy = b.roostWhy
	case !has("master"):
		b.masterWhy = "not available yet (no `roost master`)"
	}
	if b.roostWhy != "" {
		b.logf("roost: %s", b.roostWhy)
	}
	return nil
}

// measure runs every part of the plan.
func (b *bench) measure(ctx context.Context) error {
	o := b.o
	if o.wants("idle") {
		b.logf("bare Go process, idle %s", o.idle)
		if err := b.goIdleRun(ctx); err != nil {
			return err
		}
	}
	// "ctl" is the sessions without their idle window and kill -9: start-up,
	// ctl round trips and restart, to try a change of the ctl in minutes.
	if ctlOnly := !o.wants("sessions") && o.only["ctl"]; o.wants("sessions") || ctlOnly {
		for run := 1; run <= o.runs; run++ {
			if err := b.floorRun(ctx); err != nil {
				return err
			}
			for i, n := range o.ns {
				w, err := sleepWorkload(filepath.Join(b.work, "n"+strconv.Itoa(n)), n)
				if err != nil {
					return err
				}
				for _, d := range b.alternate(run + i) {
					if err := b.session(ctx, d, w, n, run, ctlOnly); err != nil {
						if ctx.Err() != nil {
							return ctx.Err()
						}
						b.logf("%s N=%d run %d failed: %v", d.name(), n, run, err)
					}
				}
			}
		}
	}
	if o.wants("log") {
		for run := 1; run <= o.logRuns; run++ {
			if err := b.catRun(ctx, run); err != nil {
				return err
			}
			for _, d := range b.alternate(run) {
				if err := b.logRun(ctx, d, run); err != nil {
					return err
				}
			}
		}
	}
	if o.wants("crash") {
		for run := 1; run <= o.crashRuns; run++ {
			for _, d := range b.alternate(run) {
				if err := b.crashRun(ctx, d, run); err != nil {
					return err
				}
			}
		}
	}
	if o.wants("master") {
		if err := b.masterRuns(ctx); err != nil {
			return err
		}
	}
	if o.wants("cgroups") {
		if err := b.cgroupRuns(ctx); err != nil {
			return err
		}
	}
	if o.wants("deploy") {
		if err := b.deployRuns(ctx); err != nil {
			return err
		}
	}
	if o.wants("upgrade") {
		if err := b.upgradeRuns(ctx); err != nil {
			return err
		}
	}
	return nil
}

// alternate returns the daemons in an order that swaps on every call with
// an odd k, so neither always runs first.
func (b *bench) alternate(k int) []daemon {
	ds := append([]daemon(nil), b.daemons...)
	if k%2 == 0 {
		for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
			ds[i], ds[j] = ds[j], ds[i]
		}
	}
	return ds
}

// writeFileAtomic writes data to path through a temp file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
