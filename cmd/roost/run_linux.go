package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"roost/cgroup"
)

// dropPrivileges makes this process run as name (a user name or uid), with
// that user's primary group first and every group it belongs to, as
// supervisord's drop_privileges does for [supervisord] user=. Nothing
// happens when name is empty or already the current user; only root can
// become someone else.
func dropPrivileges(name string) error {
	if name == "" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.Atoi(name); numErr != nil {
			return fmt.Errorf("[supervisord] user=%s: can't find username %q", name, name)
		}
		if u, err = user.LookupId(name); err != nil {
			return fmt.Errorf("[supervisord] user=%s: can't find uid %s", name, name)
		}
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("[supervisord] user=%s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("[supervisord] user=%s: gid %q: %w", name, u.Gid, err)
	}
	if os.Getuid() == uid {
		return nil
	}
	if os.Getuid() != 0 {
		return fmt.Errorf("[supervisord] user=%s: can't drop privilege as nonroot user", name)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return fmt.Errorf("[supervisord] user=%s: groups: %w", name, err)
	}
	groups := []int{gid}
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err == nil && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	// Go applies these to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("[supervisord] user=%s: could not set groups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("[supervisord] user=%s: could not set group id: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("[supervisord] user=%s: could not set user id: %w", name, err)
	}
	cleanEnvironment(u)
	return nil
}

// keptEnv are the variables of root's environment a dropped supervisor
// keeps: locale and time zone, which say how to print, not who runs.
var keptEnv = []string{"LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ"}

// cleanEnvironment replaces the environment after a drop from root with the
// user's own: HOME, USER, LOGNAME and SHELL from passwd, a plain PATH, and
// keptEnv. Nothing else of root's (SUDO_USER, tokens, HOME=/root) reaches
// the supervisor or, through it, the programs: they inherit the
// supervisor's environment as supervisord's do.
func cleanEnvironment(u *user.User) {
	kept := map[string]string{}
	for _, k := range keptEnv {
		if v, ok := os.LookupEnv(k); ok {
			kept[k] = v
		}
	}
	os.Clearenv()
	for k, v := range kept {
		os.Setenv(k, v)
	}
	os.Setenv("HOME", u.HomeDir)
	os.Setenv("USER", u.Username)
	os.Setenv("LOGNAME", u.Username)
	os.Setenv("SHELL", loginShell(u.Username))
	os.Setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
}

// loginShell is the user's shell from /etc/passwd (os/user does not carry
// it), /bin/sh when it cannot be read.
func loginShell(name string) string {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name && f[6] != "" {
			return f[6]
		}
	}
	return "/bin/sh"
}

// raiseLimits is supervisord's set_rlimits_or_exit: it raises the soft
// RLIMIT_NOFILE to [supervisord] minfds and the soft RLIMIT_NPROC to
// minprocs (and the hard ones with them, which only root may), and fails
// with supervisord's message when the environment does not allow that
// many. Go already raised the soft file limit to the hard one when the
// process started. These are minimums for the supervisor, not limits on
// its programs (a program's own limits are its cgroup's, or the rlimits
// cgroup.Rlimits approximates them with).
func raiseLimits(minfds, minprocs int) error {
	if err := raiseLimit(syscall.RLIMIT_NOFILE, minfds, "The minimum number of file descriptors required to run this process is %d as per "+
		"the \"minfds\" command-line argument or config file setting. The current environment will only allow "+
		"you to open %d file descriptors.  Either raise the number of usable file descriptors in your "+
		"environment (ulimit -n, LimitNOFILE=) or lower the minfds setting in the config file to allow "+
		"the process to start."); err != nil {
		return err
	}
	return raiseLimit(unix.RLIMIT_NPROC, minprocs, "The minimum number of available processes required to run this program is %d as per "+
		"the \"minprocs\" command-line argument or config file setting. The current environment will only allow "+
		"you to open %d processes.  Either raise the number of usable processes in your "+
		"environment (ulimit -u, LimitNPROC=) or lower the minprocs setting in the config file to allow "+
		"the program to start.")
}

// raiseLimit raises the soft limit res to least (an unlimited one stays),
// the hard one with it if it is lower; msg takes least and the hard limit.
func raiseLimit(res, least int, msg string) error {
	if least <= 0 {
		return nil
	}
	var l unix.Rlimit
	if err := unix.Getrlimit(res, &l); err != nil {
		return fmt.Errorf("getrlimit(%d): %w", res, err)
	}
	if l.Cur == unix.RLIM_INFINITY || l.Cur >= uint64(least) {
		return nil
	}
	want := unix.Rlimit{Cur: uint64(least), Max: l.Max}
	if l.Max != unix.RLIM_INFINITY && l.Max < uint64(least) {
		want.Max = uint64(least)
	}
	if err := unix.Setrlimit(res, &want); err != nil {
		return fmt.Errorf(msg, least, l.Max)
	}
	return nil
}

// warnNoCgroups says once, at the start of a `roost run` the master did
// not start, when the supervisor cannot have cgroups of its own (no
// delegation: an unprivileged user on a v1 host, a container without
// write access): what that leaves out, and what still bounds it.
func warnNoCgroups(log *slog.Logger) {
	if err := cgroup.Writable(); err != nil {
		log.Warn("cgroups: none for this supervisor: " + err.Error() + "; programs run without cgroup limits, " +
			"kill by cgroup or out-of-memory reports (an OOM kill shows as SIGKILL); only rlimits apply " +
			"(ulimit, [supervisord] minfds and minprocs). Under `roost master` each user's supervisor gets a cgroup.")
	}
}
