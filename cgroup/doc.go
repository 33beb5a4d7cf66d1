// Package cgroup is roost's room for control groups (cgroup v2).
//
// Today it holds what the master needs to make a user's port block the
// user's own: find the cgroup2 mount, create a group (a directory), put a
// process in it, and attach a bind filter, a cgroup/bind4 and bind6 eBPF
// program that refuses (EPERM) a bind to a port of the admin's roost range
// outside the group's own block. Ports outside the range, and port 0 (let
// the kernel pick), are not roost's business and always pass. The program
// is written with cilium/ebpf's asm package: no clang, no object files.
//
// The master (root) creates one group per user below its own root group
// and starts that user's supervisor inside it (CLONE_INTO_CGROUP), so the
// supervisor, its programs and everything they fork are filtered; a user
// cannot leave it (cgroup.procs of every group is root's). The filter is
// attached with BPF_PROG_ATTACH, not a bpf link: it stays while the group
// exists, also while the master restarts, and attaching again replaces it.
//
// Resource limits (cpu, memory, pids) will grow here too, beside Group;
// nothing in this package knows about users or roost.toml.
package cgroup
