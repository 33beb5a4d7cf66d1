package main

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
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
	return nil
}
