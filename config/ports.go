package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Ports for programs behind a [proxy:NAME] section.
//
// The root master gives each user's supervisor a block of TCP ports in its
// environment: PORT and ROOST_PORT_BASE (the first port) and
// ROOST_PORT_COUNT. A supervisor run by hand has no block unless its user
// sets PORT, which then starts a block running up to 65535; without PORT
// the proxy sections are only validated.
//
// Each program a [proxy:NAME] section names gets a contiguous slice of the
// block, numprocs ports long, in the order the proxy sections appear (the
// main file first, then includes; a program named by two sections gets one
// slice). Process k of the program (process_num k) gets
//
//	PORT = slice start + (k - numprocs_start)
//
// in its environment, and within that program %(ENV_PORT)s expands to the
// same per-process value everywhere supervisord expands ENV_ names
// (command, environment=, process_name, the log file names). That is
// supervisord's expansion with one difference: for a proxied program the
// ENV_PORT name comes from roost's assignment rather than the supervisor's
// own environment. Under supervisord the same file reads the environment's
// PORT, so a numprocs=1 program stays portable; `$PORT` in a shell command
// is the portable way for numprocs > 1. A program not behind a proxy
// section keeps supervisord's rules and inherits the supervisor's PORT (the
// block's first port) like any other variable.
//
// A block too small for the slices is an error at the proxy section that
// does not fit, naming what it needs.
//
// Spare ports: under the master (ROOST_PORT_BASE/COUNT), each proxied
// program with numprocs=1 also gets one spare port, from the top of the
// block down while the block has ports no slice uses (the slices, from
// the bottom, never move for it). Its process is expanded a second time
// with the spare as PORT (Process.Spare): a restart starts the new
// process there while the old one keeps serving (supervisor/bluegreen.go),
// and the next restart goes back to the first port.

// The environment variables the master passes.
const (
	EnvPortBase  = "ROOST_PORT_BASE"
	EnvPortCount = "ROOST_PORT_COUNT"
	EnvPort      = "PORT"
	// EnvSocketDir is the user's socket directory, made by the master:
	// [proxy:NAME] socket = FILE names a socket in it.
	EnvSocketDir = "ROOST_SOCKET_DIR"
	// EnvConfigDir is the directory of the user's roost files (roost env's
	// variables, the services file: deploy.ConfigDir) and EnvServicesDir
	// that of their services' data (service.Root), from roost.toml
	// config_dir and services_dir.
	EnvConfigDir   = "ROOST_CONFIG_DIR"
	EnvServicesDir = "ROOST_SERVICES_DIR"
)

// maxPort is the highest TCP port.
const maxPort = 65535

// portBlock is the block the environment gives, if any.
type portBlock struct {
	base, count int
	from        string // how it was given, for messages: "ROOST_PORT_BASE=… ROOST_PORT_COUNT=…"
	master      bool   // given by the master (ROOST_PORT_BASE/COUNT), not by PORT alone
}

// portSlice is one proxied program's ports.
type portSlice struct {
	start, n int
	err      string // the block is too small: the error for the first section naming the program
	spare    int    // the spare port of a numprocs=1 program, 0 when none
}

// envPortBlock reads the block from the environment. A malformed value is
// a warning: the sections are then only validated.
func (l *loader) envPortBlock() (portBlock, bool) {
	base, hasBase := l.env[EnvPortBase]
	count, hasCount := l.env[EnvPortCount]
	if hasBase || hasCount {
		b, err1 := strconv.Atoi(base)
		c, err2 := strconv.Atoi(count)
		if err1 != nil || err2 != nil || b < 1 || c < 1 || b+c-1 > maxPort {
			l.d.warnf(Pos{File: l.show(l.main)}, "", "", "the environment's %s=%q %s=%q is not a port block; ports for [proxy:*] programs are not assigned",
				EnvPortBase, base, EnvPortCount, count)
			return portBlock{}, false
		}
		return portBlock{base: b, count: c, from: fmt.Sprintf("%s=%d %s=%d", EnvPortBase, b, EnvPortCount, c), master: true}, true
	}
	if p, ok := l.env[EnvPort]; ok {
		b, err := strconv.Atoi(p)
		if err != nil || b < 1 || b > maxPort {
			l.d.warnf(Pos{File: l.show(l.main)}, "", "", "the environment's PORT=%q is not a port; ports for [proxy:*] programs are not assigned", p)
			return portBlock{}, false
		}
		return portBlock{base: b, count: maxPort - b + 1, from: fmt.Sprintf("PORT=%d", b)}, true
	}
	return portBlock{}, false
}

// planPorts runs before the programs are expanded: it finds the programs
// the proxy sections name, in section order, and gives each a slice of the
// block. It reads raw values and records no diagnostics: the proxy and
// program passes report every problem in their own words.
func (l *loader) planPorts() {
	l.portSlices = map[string]portSlice{}
	block, ok := l.envPortBlock()
	if !ok {
		return
	}
	next := block.base
	var order []string // the programs, in section order
	for _, sec := range l.p.order {
		if sectionKind(sec) != secProxy {
			continue
		}
		_, arg, _ := strings.Cut(sec, ":")
		name, msg := checkName(arg)
		if msg != "" {
			continue
		}
		names := expansions{"here": strValue(l.here), "host_node_name": strValue(l.host)}
		program := name
		if v := l.p.get(sec, "program"); v != nil {
			s, err := pyFormat(v.text, l.environ, names)
			if err != nil {
				continue
			}
			program = pyStrip(s)
		}
		if _, done := l.portSlices[program]; done || !l.p.has("program:"+program) {
			continue
		}
		n := l.rawNumprocs(program)
		ps := portSlice{start: next, n: n}
		if next+n-1 > block.base+block.count-1 {
			ps.err = fmt.Sprintf("program %s needs %d ports (numprocs=%d) from %d, but the port block is %d-%d (%s): "+
				"ask the admin for a larger block (roost.toml [ports] per_user), lower numprocs, or route fewer programs",
				program, n, n, next, block.base, block.base+block.count-1, block.from)
			ps.n = 0
		} else {
			next += n
		}
		l.portSlices[program] = ps
		order = append(order, program)
	}
	if !block.master {
		return
	}
	top := block.base + block.count - 1
	for _, program := range order {
		if ps := l.portSlices[program]; ps.n == 1 && top >= next {
			ps.spare = top
			top--
			l.portSlices[program] = ps
		}
	}
}

// rawNumprocs reads [program:NAME] numprocs the way the program pass
// will, without recording errors; 1 when it cannot be read (the program
// pass reports why, and the configuration is not used then).
func (l *loader) rawNumprocs(program string) int {
	sec := "program:" + program
	r := l.reader(sec, expansions{
		"here": strValue(l.here), "program_name": strValue(program),
		"host_node_name": strValue(l.host), "group_name": strValue(program),
	})
	text, _, _, set := r.raw("numprocs")
	if !set {
		return 1
	}
	s, err := pyFormat(text, l.environ, r.names)
	if err != nil {
		return 1
	}
	n, ok := pyInt(s)
	if !ok || n < 0 || n > MaxNumprocs {
		return 1
	}
	return int(n)
}

// programPort returns the PORT of process num of a proxied program.
func (l *loader) programPort(program string, num, start int64) (int, bool) {
	ps, ok := l.portSlices[program]
	if !ok || ps.err != "" || num-start >= int64(ps.n) {
		return 0, false
	}
	return ps.start + int(num-start), true
}
