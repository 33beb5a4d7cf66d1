// Package cgroup is roost's room for control groups, cgroup v1 and v2.
//
// A Tree is one hierarchy of groups below a top directory its owner (the
// master, root) made: create a group, write its limits (memory, pids,
// cpu, io), add a process, kill everything in it, read its usage, hand
// its directory to a user (delegate), remove it. V2 is the unified
// hierarchy; V1 is the same group made in each v1 controller's own
// hierarchy (memory, pids, cpu, cpuacct, freezer, blkio), with the thread
// move v1 alone allows (AddThread, ReturnThread) so a forked child is born
// inside. Detect picks one for the calling process: v2 when /sys/fs/cgroup
// is the unified hierarchy, else the mounted v1 controllers; on v2 the
// master first moves itself into a leaf of its own group (Vacate,
// MasterLeaf), so the group can enable controllers for the tree. Every write
// opens an existing control file and never creates one: a missing file is
// a missing controller, named in the error. The fake cgroupfs of the unit
// tests is plain directories with those files.
//
// Kill is at once: it freezes the group (v2 cgroup.freeze, v1 freezer),
// SIGKILLs every process while none can fork or exit (so no pid is
// reused), thaws and waits until it is empty; v2's cgroup.kill is the
// fallback only (see V2.Kill).
//
// The bind filter is a cgroup/bind4 and bind6 eBPF program that refuses
// (EPERM) a bind to a port of the admin's roost range outside the group's
// own block. Ports outside the range, and port 0 (let the kernel pick),
// are not roost's business and always pass. The program is written with
// cilium/ebpf's asm package: no clang, no object files. It lives on the
// v2 hierarchy (on a hybrid host, /sys/fs/cgroup/unified), attached with
// BPF_PROG_ATTACH, not a bpf link: it stays while the group exists, also
// while the master restarts, and attaching again replaces it.
//
// A user's supervisor reads its own memory group's OOM-kill count
// (SelfOOM) to tell an out-of-memory kill from a kill -9.
//
// Nothing in this package knows about users or roost.toml.
package cgroup
