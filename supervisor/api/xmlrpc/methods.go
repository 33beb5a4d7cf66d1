package xmlrpc

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"roost/supervisor/api"
)

// APIVersion is what getAPIVersion (and its old name getVersion) returns.
// supervisorctl refuses to work with a server that says anything else.
const APIVersion = "3.0"

// param is one parameter of a built-in method, for its signature and help.
type param struct{ typ, name string }

// supervisorMethods builds supervisord's supervisor.* namespace over b: the
// same names, parameters, optional parameters, fault codes and results.
func supervisorMethods(b api.Backend) map[string]*method {
	ms := map[string]*method{}
	// add registers a method; optional is how many trailing params may be
	// left out (they are supervisord's wait=True).
	add := func(name, doc, rtype string, params []param, optional int,
		fn func(ctx context.Context, p []any) (any, error)) *method {
		sig := []string{rtype}
		help := doc + "\n"
		for _, p := range params {
			sig = append(sig, p.typ)
			help += "\n@param " + p.typ + " " + p.name
		}
		help += "\n@return " + rtype + " result"
		m := &method{min: len(params) - optional, max: len(params), update: true, sig: sig, help: help, fn: fn}
		ms["supervisor."+name] = m
		return m
	}
	alias := func(name, of string) { ms["supervisor."+name] = ms["supervisor."+of] }
	name := []param{{"string", "name"}}
	wait := param{"boolean", "wait"}
	nameWait := []param{{"string", "name"}, wait}
	sig := param{"string", "signal"}
	offLen := []param{{"int", "offset"}, {"int", "length"}}
	nameOffLen := append([]param{{"string", "name"}}, offLen...)
	ok := func(err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return true, nil
	}
	// byName is a method of one name (read by arg) that answers true or
	// f's fault.
	byName := func(arg func([]any, int) (string, error), f func(string) error) func(context.Context, []any) (any, error) {
		return func(_ context.Context, p []any) (any, error) {
			n, err := arg(p, 0)
			if err != nil {
				return nil, err
			}
			return ok(f(n))
		}
	}
	groupName := func(p []any, i int) (string, error) { return argString(p, i, "name") }
	results := func(rs []api.Result, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return resultStructs(rs), nil
	}

	// Status and control.
	add("getAPIVersion", "Return the version of the RPC API, \"3.0\".", "string", nil, 0,
		func(context.Context, []any) (any, error) { return APIVersion, nil })
	alias("getVersion", "getAPIVersion")
	add("getSupervisorVersion", "Return the supervisor's version.", "string", nil, 0,
		func(context.Context, []any) (any, error) { return b.Version(), nil })
	add("getIdentification", "Return the supervisor's identifier ([supervisord] identifier).", "string", nil, 0,
		func(context.Context, []any) (any, error) { return b.Identification(), nil })
	add("getState", "Return the supervisor's state: {statecode: int, statename: string}.", "struct", nil, 0,
		func(context.Context, []any) (any, error) {
			st := b.State()
			return Struct{{"statecode", int(st)}, {"statename", st.String()}}, nil
		})
	add("getPID", "Return the supervisor's process id.", "int", nil, 0,
		func(context.Context, []any) (any, error) { return b.PID(), nil })
	add("readLog", "Read length bytes of the main log from offset (a negative offset\ncounts from the end, with length 0).", "string", offLen, 0,
		func(_ context.Context, p []any) (any, error) {
			off, length, err := offsetLength(p, 0)
			if err != nil {
				return nil, err
			}
			data, err := b.ReadMainLog(off, length)
			if err != nil {
				return nil, err
			}
			return string(data), nil
		})
	alias("readMainLog", "readLog")
	add("clearLog", "Clear the main log.", "boolean", nil, 0,
		func(context.Context, []any) (any, error) { return ok(b.ClearMainLog()) })
	add("shutdown", "Shut the supervisor down.", "boolean", nil, 0,
		func(context.Context, []any) (any, error) { return ok(b.Shutdown()) })
	add("restart", "Restart the supervisor: stop every process, re-read the configuration, start again.", "boolean", nil, 0,
		func(context.Context, []any) (any, error) { return ok(b.Restart()) })

	// Configuration.
	add("reloadConfig", "Re-read the configuration and report the groups added, changed and\nremoved, changing nothing: [[added, changed, removed]].", "array", nil, 0,
		func(context.Context, []any) (any, error) {
			ch, err := b.Reread()
			if err != nil {
				return nil, err
			}
			return []any{[]any{nonNil(ch.Added), nonNil(ch.Changed), nonNil(ch.Removed)}}, nil
		})
	add("addProcessGroup", "Activate a group from the configuration read last.", "boolean", name, 0,
		byName(groupName, b.AddGroup))
	add("removeProcessGroup", "Remove a stopped group from the active configuration.", "boolean", name, 0,
		byName(groupName, b.RemoveGroup))

	// Process information.
	add("getProcessInfo", "Describe a process (name or group:name).", "struct", name, 0,
		func(_ context.Context, p []any) (any, error) {
			n, err := processName(p, 0)
			if err != nil {
				return nil, err
			}
			info, err := b.ProcessInfo(n)
			if err != nil {
				return nil, err
			}
			return processInfoStruct(info), nil
		})
	add("getAllProcessInfo", "Describe every process.", "array", nil, 0,
		func(context.Context, []any) (any, error) {
			infos := b.AllProcessInfo()
			out := make([]any, len(infos))
			for i, info := range infos {
				out[i] = processInfoStruct(info)
			}
			return out, nil
		})
	add("getAllConfigInfo", "Describe every configured process, sorted by name.", "array", nil, 0,
		func(context.Context, []any) (any, error) {
			cs := b.AllConfigInfo()
			out := make([]any, len(cs))
			for i, c := range cs {
				out[i] = configInfoStruct(c)
			}
			return out, nil
		})

	// Process control.
	// waiting registers the three methods of an operation that may wait
	// (start, stop): VERBProcess, which takes group:* too,
	// VERBProcessGroup and VERBAllProcesses.
	waiting := func(verb, doc, groupDoc, allDoc string, one func(context.Context, string, bool) error,
		group func(context.Context, string, bool) ([]api.Result, error), all func(context.Context, bool) []api.Result) {
		add(verb+"Process", doc, "boolean", nameWait, 1,
			func(ctx context.Context, p []any) (any, error) {
				n, err := argString(p, 0, "name")
				if err != nil {
					return nil, err
				}
				w := argWait(p, 1)
				if g, _, whole := api.SplitNamespec(n); whole {
					return results(renameBadName(n)(group(ctx, g, w)))
				}
				return ok(one(ctx, n, w))
			})
		add(verb+"ProcessGroup", groupDoc, "array", nameWait, 1,
			func(ctx context.Context, p []any) (any, error) {
				n, err := argString(p, 0, "name")
				if err != nil {
					return nil, err
				}
				return results(group(ctx, n, argWait(p, 1)))
			})
		add(verb+"AllProcesses", allDoc, "array", []param{wait}, 1,
			func(ctx context.Context, p []any) (any, error) {
				return resultStructs(all(ctx, argWait(p, 0))), nil
			})
	}
	waiting("start", "Start a process (name, group:name, or group:* for the whole group);\nwith wait, return once it is RUNNING.",
		"Start the group's processes that are not running.",
		"Start every process that is not running, in priority order.",
		b.StartProcess, b.StartGroup, b.StartAll)
	waiting("stop", "Stop a process (name, group:name, or group:* for the whole group);\nwith wait, return once it has stopped.",
		"Stop the group's running processes.",
		"Stop every running process, in reverse priority order.",
		b.StopProcess, b.StopGroup, b.StopAll)
	add("signalProcess", "Send a signal, by name (\"HUP\") or number (\"1\"), to a process\n(name, group:name, or group:* for the whole group).", "boolean", []param{{"string", "name"}, sig}, 0,
		func(_ context.Context, p []any) (any, error) {
			n, err := argString(p, 0, "name")
			if err != nil {
				return nil, err
			}
			if group, _, whole := api.SplitNamespec(n); whole {
				return results(renameBadName(n)(signalGroup(b, group, p[1])))
			}
			s, err := ParseSignal(p[1])
			if err != nil {
				// supervisord names an unknown process before a bad signal.
				if _, perr := b.ProcessInfo(n); perr != nil {
					return nil, perr
				}
				return nil, err
			}
			return ok(b.SignalProcess(n, s))
		})
	add("signalProcessGroup", "Send a signal to the group's signallable processes.", "array", []param{{"string", "name"}, sig}, 0,
		func(_ context.Context, p []any) (any, error) {
			n, err := argString(p, 0, "name")
			if err != nil {
				return nil, err
			}
			return results(signalGroup(b, n, p[1]))
		})
	add("signalAllProcesses", "Send a signal to every signallable process.", "array", []param{sig}, 0,
		func(_ context.Context, p []any) (any, error) {
			s, err := ParseSignal(p[0])
			if err != nil {
				return resultStructs(badSignalResults(b.AllProcessInfo(), "", err)), nil
			}
			return resultStructs(b.SignalAll(s)), nil
		})
	add("sendProcessStdin", "Write chars to a running process's stdin.", "boolean", []param{{"string", "name"}, {"string", "chars"}}, 0,
		func(_ context.Context, p []any) (any, error) {
			var data []byte
			switch c := p[1].(type) {
			case string:
				data = []byte(c)
			case []byte:
				data = c
			default:
				return nil, api.Errorf(api.IncorrectParameters, "%s", pyStr(c))
			}
			n, err := processName(p, 0)
			if err != nil {
				return nil, err
			}
			return ok(b.SendProcessStdin(n, data))
		})
	m := add("sendRemoteCommEvent", "Emit a REMOTE_COMMUNICATION event for event listeners.", "boolean", []param{{"string", "type"}, {"string", "data"}}, 0,
		func(_ context.Context, p []any) (any, error) {
			typ, err := argString(p, 0, "type")
			if err != nil {
				return nil, err
			}
			data, err := argString(p, 1, "data")
			if err != nil {
				return nil, err
			}
			return ok(b.SendRemoteCommEvent(typ, data))
		})
	m.update = false // supervisord's sendRemoteCommEvent skips _update

	// Process logs.
	for _, s := range []api.Stream{api.Stdout, api.Stderr} {
		title := strings.ToUpper(string(s[:1])) + string(s[1:])
		add("readProcess"+title+"Log", "Read length bytes of a process's "+string(s)+" log from offset (a negative\noffset counts from the end, with length 0).", "string", nameOffLen, 0,
			func(_ context.Context, p []any) (any, error) {
				n, off, length, err := nameOffsetLength(p)
				if err != nil {
					return nil, err
				}
				data, err := b.ReadProcessLog(n, s, off, length)
				if err != nil {
					return nil, err
				}
				return string(data), nil
			})
		add("tailProcess"+title+"Log", "Read up to length bytes of a process's "+string(s)+" log from offset; when\nthe log has grown past offset+length, read its last length bytes and\nset overflow. Returns [string bytes, int offset, bool overflow], offset\nbeing where to read next.", "array", nameOffLen, 0,
			func(_ context.Context, p []any) (any, error) {
				n, off, length, err := nameOffsetLength(p)
				if err != nil {
					return nil, err
				}
				data, next, overflow, err := b.TailProcessLog(n, s, off, length)
				if err != nil {
					return nil, err
				}
				return []any{string(data), next, overflow}, nil
			})
	}
	alias("readProcessLog", "readProcessStdoutLog")
	alias("tailProcessLog", "tailProcessStdoutLog")
	add("clearProcessLogs", "Clear a process's stdout and stderr logs.", "boolean", name, 0,
		byName(processName, b.ClearProcessLogs))
	alias("clearProcessLog", "clearProcessLogs")
	add("clearAllProcessLogs", "Clear every process's logs.", "array", nil, 0,
		func(context.Context, []any) (any, error) { return resultStructs(b.ClearAllProcessLogs()), nil })
	return ms
}

// signalGroup is signalProcessGroup: an unknown group is BAD_NAME; a bad
// signal is not a fault but a BAD_SIGNAL result for each signallable
// process of the group, as supervisord reports it.
func signalGroup(b api.Backend, group string, sigv any) ([]api.Result, error) {
	s, err := ParseSignal(sigv)
	if err == nil {
		return b.SignalGroup(group, s)
	}
	var infos []api.ProcessInfo
	for _, info := range b.AllProcessInfo() {
		if info.Group == group {
			infos = append(infos, info)
		}
	}
	if len(infos) == 0 {
		return nil, api.Errorf(api.BadName, "%s", group)
	}
	return badSignalResults(infos, group, err), nil
}

// badSignalResults is one BAD_SIGNAL result per signallable process of
// infos (of group, when group is not "").
func badSignalResults(infos []api.ProcessInfo, group string, err error) []api.Result {
	rs := []api.Result{}
	for _, info := range infos {
		if (group == "" || info.Group == group) && info.State.IsSignallable() {
			rs = append(rs, api.Result{Name: info.Name, Group: info.Group, Status: api.BadSignal, Description: err.Error()})
		}
	}
	return rs
}

// renameBadName makes a group operation reached through "group:*" report
// BAD_NAME with the name as the client wrote it, as supervisord does.
func renameBadName(namespec string) func([]api.Result, error) ([]api.Result, error) {
	return func(rs []api.Result, err error) ([]api.Result, error) {
		if api.CodeOf(err) == api.BadName {
			return nil, api.Errorf(api.BadName, "%s", namespec)
		}
		return rs, err
	}
}

func resultStructs(rs []api.Result) []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = Struct{{"name", r.Name}, {"group", r.Group}, {"status", int(r.Status)}, {"description", r.Description}}
	}
	return out
}

// processInfoStruct is getProcessInfo's struct: supervisord's 14 members in
// its order, times capped to 32 bits as its capped_int does.
func processInfoStruct(p api.ProcessInfo) Struct {
	p.Start, p.Stop, p.Now = capInt(p.Start), capInt(p.Stop), capInt(p.Now)
	return Struct{
		{"name", p.Name},
		{"group", p.Group},
		{"start", p.Start},
		{"stop", p.Stop},
		{"now", p.Now},
		{"state", int(p.State)},
		{"statename", p.State.String()},
		{"spawnerr", p.SpawnErr},
		{"exitstatus", p.ExitStatus},
		{"logfile", p.StdoutLogfile},
		{"stdout_logfile", p.StdoutLogfile},
		{"stderr_logfile", p.StderrLogfile},
		{"pid", p.PID},
		{"description", api.Describe(p)},
	}
}

// configInfoStruct is one getAllConfigInfo struct, members in supervisord's
// order. uid is an int, as supervisord sends it, when it is numeric; unset
// values are "none".
func configInfoStruct(c api.ConfigInfo) Struct {
	var uid any = orNone(c.UID)
	if n, err := strconv.Atoi(c.UID); err == nil {
		uid = n
	}
	return Struct{
		{"autostart", c.Autostart},
		{"directory", orNone(c.Directory)},
		{"uid", uid},
		{"command", c.Command},
		{"exitcodes", nonNil(c.ExitCodes)},
		{"group", c.Group},
		{"group_prio", c.GroupPrio},
		{"inuse", c.InUse},
		{"killasgroup", c.KillAsGroup},
		{"name", c.Name},
		{"process_prio", c.ProcessPrio},
		{"redirect_stderr", c.RedirectStderr},
		{"startretries", c.StartRetries},
		{"startsecs", c.StartSecs},
		{"stdout_capture_maxbytes", c.StdoutCaptureMaxBytes},
		{"stdout_events_enabled", c.StdoutEventsEnabled},
		{"stdout_logfile", orNone(c.StdoutLogfile)},
		{"stdout_logfile_backups", c.StdoutLogfileBackups},
		{"stdout_logfile_maxbytes", c.StdoutLogfileMaxBytes},
		{"stdout_syslog", c.StdoutSyslog},
		{"stopsignal", c.StopSignal},
		{"stopwaitsecs", c.StopWaitSecs},
		{"stderr_capture_maxbytes", c.StderrCaptureMaxBytes},
		{"stderr_events_enabled", c.StderrEventsEnabled},
		{"stderr_logfile", orNone(c.StderrLogfile)},
		{"stderr_logfile_backups", c.StderrLogfileBackups},
		{"stderr_logfile_maxbytes", c.StderrLogfileMaxBytes},
		{"stderr_syslog", c.StderrSyslog},
		{"serverurl", orNone(c.ServerURL)},
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func capInt(n int64) int64 {
	return min(max(n, math.MinInt32), math.MaxInt32)
}

// argString returns parameter i as a string (base64 data counts, as
// supervisord decodes it to a string).
func argString(p []any, i int, what string) (string, error) {
	switch v := p[i].(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", api.Errorf(api.IncorrectParameters, "%s must be a string, not %s", what, typeName(p[i]))
}

// processName returns parameter i as the name of one process: a whole group
// ("group:*") is BAD_NAME, as in supervisord's per-process calls.
func processName(p []any, i int) (string, error) {
	n, err := argString(p, i, "name")
	if err != nil {
		return "", err
	}
	if _, _, whole := api.SplitNamespec(n); whole {
		return "", api.Errorf(api.BadName, "%s", n)
	}
	return n, nil
}

// offsetLength returns parameters i and i+1 as integers, read as Python's
// int() reads them.
// nameOffsetLength reads the (name, offset, length) arguments of the
// process log methods.
func nameOffsetLength(p []any) (name string, off, length int64, err error) {
	if name, err = processName(p, 0); err != nil {
		return "", 0, 0, err
	}
	off, length, err = offsetLength(p, 1)
	return name, off, length, err
}

func offsetLength(p []any, i int) (int64, int64, error) {
	off, err := argInt(p[i], "offset")
	if err != nil {
		return 0, 0, err
	}
	length, err := argInt(p[i+1], "length")
	return off, length, err
}

func argInt(v any, what string) (int64, error) {
	switch v := v.(type) {
	case int:
		return int64(v), nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case float64:
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return int64(v), nil
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, api.Errorf(api.IncorrectParameters, "%s must be an int, not %s", what, typeName(v))
}

// argWait returns the optional wait parameter i: true when absent, else its
// Python truth value (supervisord tests it with a bare "if wait").
func argWait(p []any, i int) bool {
	if i >= len(p) {
		return true
	}
	switch v := p[i].(type) {
	case nil:
		return false
	case bool:
		return v
	case int:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case []byte:
		return len(v) > 0
	case []any:
		return len(v) > 0
	case Struct:
		return len(v) > 0
	case time.Time:
		return true
	}
	return true
}
