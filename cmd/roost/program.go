package main

import (
	"strings"

	"roost/supervisor/api"
)

// programNames turns each name that is a program's (or group's) name but
// no process's, such as "web" with numprocs=2 (web:web_0, web:web_1),
// into "web:*", so that `roost restart web` acts on all its processes, as
// `roost restart --rolling web` does. supervisorctl says "no such process"
// there. Other names are kept as they are.
func programNames(all []api.ProcessInfo, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, programName(all, n))
	}
	return out
}

func programName(all []api.ProcessInfo, name string) string {
	if name == "all" || strings.Contains(name, ":") {
		return name
	}
	group := false
	for _, in := range all {
		if in.Namespec() == name {
			return name
		}
		group = group || in.Group == name
	}
	if group {
		return name + ":*"
	}
	return name
}

// programProcesses returns the processes of a program named without its
// group ("web" for web:web_0 and web:web_1), nil for any other name.
func (x *ctl) programProcesses(name string) []api.ProcessInfo {
	all, err := x.client.Processes(x.ctx)
	if err != nil || programName(all, name) != name+":*" {
		return nil
	}
	var out []api.ProcessInfo
	for _, in := range all {
		if in.Group == name {
			out = append(out, in)
		}
	}
	return out
}
