package cgroup

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Ports is an inclusive range of TCP/UDP ports.
type Ports struct {
	First int `json:"first"`
	Last  int `json:"last"`
}

func (p Ports) valid() bool { return 1 <= p.First && p.First <= p.Last && p.Last <= 65535 }

// BindFilter says which binds a group's processes may make: a port inside
// Managed (the admin's roost range) only when it is inside Own (the
// group's block). Any other port, and port 0, is allowed.
type BindFilter struct {
	Managed Ports
	Own     Ports
}

// userPortOffset is the offset of user_port in struct bpf_sock_addr (after
// user_family, user_ip4 and user_ip6[4]): the port in network byte order,
// in the low 16 bits of a 32-bit field the program may read whole.
const userPortOffset = 24

// instructions returns the program: 1 allows the bind, 0 refuses it
// (the caller's bind(2) gets EPERM).
func (f BindFilter) instructions() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, userPortOffset, asm.Word),
		asm.HostTo(asm.BE, asm.R2, asm.Half), // network to host order
		asm.Mov.Imm(asm.R0, 1),
		asm.JEq.Imm(asm.R2, 0, "allow"),
		asm.JLT.Imm(asm.R2, int32(f.Managed.First), "allow"),
		asm.JGT.Imm(asm.R2, int32(f.Managed.Last), "allow"),
		asm.JLT.Imm(asm.R2, int32(f.Own.First), "deny"),
		asm.JGT.Imm(asm.R2, int32(f.Own.Last), "deny"),
		asm.Ja.Label("allow"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("deny"),
		asm.Return().WithSymbol("allow"),
	}
}

var bindAttachTypes = []ebpf.AttachType{ebpf.AttachCGroupInet4Bind, ebpf.AttachCGroupInet6Bind}

// load loads the filter's program for one attach type.
func (f BindFilter) load(at ebpf.AttachType) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "roost_bind", Type: ebpf.CGroupSockAddr, AttachType: at,
		Instructions: f.instructions(), License: "Dual MIT/GPL",
	})
	if err != nil {
		return nil, fmt.Errorf("load the bind filter: %w", err)
	}
	return prog, nil
}

// BindFilterSupported reports whether this kernel and process can load
// the bind filter (a cgroup/bind4 program; root, or CAP_BPF and
// CAP_NET_ADMIN). It loads one and unloads it.
func BindFilterSupported() error {
	prog, err := BindFilter{Managed: Ports{1, 1}, Own: Ports{1, 1}}.load(ebpf.AttachCGroupInet4Bind)
	if err != nil {
		return err
	}
	return prog.Close()
}

// AttachBindFilter attaches f to the group for IPv4 and IPv6 binds,
// replacing the filter attached before (see the package doc): it applies
// to every process in the group and below it, at once.
func (g *Group) AttachBindFilter(f BindFilter) error {
	if !f.Managed.valid() || !f.Own.valid() {
		return fmt.Errorf("cgroup %s: bind filter: invalid ports %v", g.Path, f)
	}
	dir, err := g.Open()
	if err != nil {
		return err
	}
	defer dir.Close()
	for _, at := range bindAttachTypes {
		prog, err := f.load(at)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", g.Path, err)
		}
		// Flags 0: one program per type, replaced by the next attach, and
		// no group below may add its own.
		err = link.RawAttachProgram(link.RawAttachProgramOptions{Target: int(dir.Fd()), Program: prog, Attach: at})
		prog.Close() // the cgroup holds its own reference
		if err != nil {
			return fmt.Errorf("cgroup %s: attach the bind filter (%v): %w", g.Path, at, err)
		}
	}
	return nil
}
