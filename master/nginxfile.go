package master

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"roost/config"
)

// Installing the rendered nginx configuration.
//
// nginx -t checks the whole main configuration, which includes the output
// file (conf.d/*.conf), so the only faithful test of a candidate is with
// the candidate in place. The master therefore installs, tests, and rolls
// back exactly:
//
//  1. the candidate is written beside the output, as ".NAME.roost-new"
//     (O_CREAT|O_EXCL, mode 0644, root's, synced); the leading dot keeps it
//     out of nginx's include globs (glob(3) without GLOB_PERIOD);
//  2. the current output, if any, is hard-linked as ".NAME.roost-prev":
//     the very inode, for the rollback;
//  3. the candidate is renamed over the output (atomic);
//  4. test_command runs;
//  5. when it fails, ".NAME.roost-prev" is renamed back over the output
//     (the old bytes, inode, owner and mode, atomically), or the output is
//     removed when there was none; nginx is not reloaded;
//  6. when it passes, ".NAME.roost-prev" is removed and reload_command runs.
//
// Between 3 and 5 the output holds an untested file for as long as nginx
// -t takes. nginx reads it only on a reload, so only a reload from outside
// in that window could see it, and a reload that fails keeps nginx's
// running configuration. The output's directory must be root's and
// writable by root alone, and the output, when it exists, a regular file:
// nobody else may swap files under the master.
//
// The commands run as root, through the master's fork thread (so its
// reaper never steals their exit), in their own process group, with a clean
// environment (PATH and LANG only), stdin /dev/null, their output captured
// and bounded, and killed (the whole group) at command_timeout.

// cleanPath is the PATH of the nginx commands and where a bare command
// name is looked up.
const cleanPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// commandOutputMax bounds what the master keeps of a command's output.
const commandOutputMax = 16 << 10

// installResult is what installing one candidate did.
type installResult struct {
	testOut   string // test_command's output (bounded)
	testErr   error  // test_command failed: the candidate was rolled back
	reloadOut string
	reloadErr error // reload_command failed: the file is in place, nginx may not run it
	err       error // the file could not be written, renamed or rolled back
}

// install writes conf to the output, tests it, and rolls back or reloads.
func install(ctx context.Context, px config.MasterProxy, conf []byte) installResult {
	var res installResult
	dir, base := filepath.Dir(px.Output), filepath.Base(px.Output)
	if err := checkOutputDir(dir); err != nil {
		res.err = err
		return res
	}
	hadOld := false
	switch st, err := os.Lstat(px.Output); {
	case err == nil && !st.Mode().IsRegular():
		res.err = fmt.Errorf("nginx output %s is not a regular file (%s): remove it", px.Output, st.Mode().Type())
		return res
	case err == nil:
		hadOld = true
	case !errors.Is(err, fs.ErrNotExist):
		res.err = fmt.Errorf("nginx output: %w", err)
		return res
	}
	tmp := filepath.Join(dir, "."+base+".roost-new")
	prev := filepath.Join(dir, "."+base+".roost-prev")
	if err := writeNew(tmp, conf); err != nil {
		res.err = err
		return res
	}
	defer os.Remove(tmp) // gone after the rename; left over only on a failure
	if err := os.Remove(prev); err != nil && !errors.Is(err, fs.ErrNotExist) {
		res.err = fmt.Errorf("nginx output: remove the stale %s: %w", prev, err)
		return res
	}
	if hadOld {
		if err := os.Link(px.Output, prev); err != nil {
			res.err = fmt.Errorf("nginx output: keep the current file for a rollback: %w", err)
			return res
		}
	}
	if err := os.Rename(tmp, px.Output); err != nil {
		os.Remove(prev)
		res.err = fmt.Errorf("nginx output: %w", err)
		return res
	}
	res.testOut, res.testErr = runCommand(ctx, px.TestCommand, px.CommandTimeout)
	if res.testErr != nil {
		var err error
		if hadOld {
			err = os.Rename(prev, px.Output)
		} else {
			err = os.Remove(px.Output)
		}
		if err != nil {
			res.err = fmt.Errorf("nginx output: roll back the candidate that failed the test: %w", err)
		}
		syncDir(dir)
		return res
	}
	os.Remove(prev)
	syncDir(dir)
	res.reloadOut, res.reloadErr = runCommand(ctx, px.ReloadCommand, px.CommandTimeout)
	return res
}

// checkOutputDir refuses a directory someone besides root could change.
func checkOutputDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("nginx output directory: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("nginx output directory %s is not a directory (a symlink?)", dir)
	case !ok || sys.Uid != 0:
		return fmt.Errorf("nginx output directory %s does not belong to root", dir)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("nginx output directory %s is writable by group or others (mode %o)", dir, st.Mode().Perm())
	}
	return nil
}

// writeNew creates path (which must not exist) with data, mode 0644, synced.
func writeNew(path string, data []byte) error {
	os.Remove(path) // a leftover of a crash: ours, in root's directory
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("nginx output: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("nginx output: write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil { // whatever the umask
		f.Close()
		return fmt.Errorf("nginx output: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("nginx output: sync %s: %w", path, err)
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// runCommand runs argv as described above and returns its output; the
// error says how it failed (exit status, timeout, not found).
func runCommand(ctx context.Context, argv []string, timeout time.Duration) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("no command")
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		p, err := lookPath(path)
		if err != nil {
			return "", err
		}
		path = p
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("%s: %w", argv[0], err)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Env:         []string{"PATH=" + cleanPath, "LANG=C"},
		Dir:         "/",
		Stdout:      w,
		Stderr:      w,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	c, err := spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return "", fmt.Errorf("%s: %w", argv[0], err)
	}
	out := newTailBuffer(commandOutputMax)
	copied := make(chan struct{})
	go func() {
		copyInto(out, r)
		r.Close()
		close(copied)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	exited := make(chan *os.ProcessState, 1)
	go func() { exited <- c.wait() }()
	var ps *os.ProcessState
	timedOut := false
	select {
	case ps = <-exited:
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	if timedOut {
		c.signal(syscall.SIGKILL, true)
		ps = <-exited
	}
	// A daemon it left holding the pipe must not hold the master up.
	select {
	case <-copied:
	case <-time.After(drainTimeout):
	}
	text := sanitizeOutput(string(out.Bytes()))
	switch {
	case timedOut:
		return text, fmt.Errorf("%s: killed after %v", strings.Join(argv, " "), timeout)
	case !ps.Success():
		return text, fmt.Errorf("%s: %s", strings.Join(argv, " "), describeExit(ps))
	}
	return text, nil
}

// lookPath finds a command name in cleanPath.
func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(cleanPath) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", name, cleanPath)
}

// sanitizeOutput keeps a command's output printable, line by line.
func sanitizeOutput(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = sanitize(l, 2000)
	}
	return strings.Join(lines, "\n")
}

// blameLine finds the line of output that nginx's error names ("in
// /etc/nginx/conf.d/roost.conf:12"), or 0.
func blameLine(testOut, output string) int {
	re := regexp.MustCompile(regexp.QuoteMeta(output) + `:(\d+)`)
	m := re.FindStringSubmatch(testOut)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// firstError returns the line of nginx -t's output that says what is wrong.
func firstError(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "[emerg]") || strings.Contains(l, "[alert]") || strings.Contains(l, "[crit]") {
			return strings.TrimSpace(l)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}
