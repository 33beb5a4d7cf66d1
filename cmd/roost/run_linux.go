package main

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
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

// raiseFDLimit is supervisord's set_rlimits_or_exit for [supervisord]
// minfds: it raises the soft RLIMIT_NOFILE to minfds (and the hard one with
// it, which only root may), and fails with supervisord's message when the
// environment does not allow that many. Go already raised the soft limit to
// the hard one when the process started.
func raiseFDLimit(minfds int) error {
	if minfds <= 0 {
		return nil
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if l.Cur >= uint64(minfds) {
		return nil
	}
	want := syscall.Rlimit{Cur: uint64(minfds), Max: max(l.Max, uint64(minfds))}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return fmt.Errorf("The minimum number of file descriptors required to run this process is %d as per "+
			"the \"minfds\" command-line argument or config file setting. The current environment will only allow "+
			"you to open %d file descriptors.  Either raise the number of usable file descriptors in your "+
			"environment (ulimit -n, LimitNOFILE=) or lower the minfds setting in the config file to allow "+
			"the process to start.", minfds, l.Max)
	}
	return nil
}
