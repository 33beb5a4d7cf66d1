package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"roost/config"
	"roost/supervisor/api"
)

// The environment a program gets.
//
// supervisord copies its whole environment into every program, which is what
// its users expect from a supervisor they start by hand, so roost does the
// same when it runs as an ordinary user (hand-run, or started by the master,
// which gives it a clean environment of its own). When the supervisor runs
// as root, none of root's environment reaches a program: it starts from
// HOME, USER, LOGNAME, SHELL and PATH built from the passwd entry of the
// user it runs as. On top come SUPERVISOR_ENABLED=1, SUPERVISOR_SERVER_URL,
// SUPERVISOR_PROCESS_NAME and SUPERVISOR_GROUP_NAME (as supervisord sets
// them), then [supervisord] environment and the program's environment=
// (config folds both into Process.Environment; later entries win).

// defaultPath is PATH for a program whose supervisor runs as root.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// rootPath is PATH for a program that runs as root.
const rootPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// account is a resolved unix user.
type account struct {
	name   string
	uid    int
	gid    int
	groups []uint32 // primary gid first, then every group listing the user
	home   string
	shell  string
}

// lookupAccount resolves a user= value: a name or a numeric uid.
func lookupAccount(name string) (*account, error) {
	var u *user.User
	var err error
	if _, nerr := strconv.Atoi(name); nerr == nil {
		u, err = user.LookupId(name)
		if err != nil {
			return nil, fmt.Errorf("can't find uid %s", pyRepr(name))
		}
	} else {
		u, err = user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("can't find username %s", pyRepr(name))
		}
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q is not numeric", name, u.Uid)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q is not numeric", name, u.Gid)
	}
	a := &account{name: u.Username, uid: uid, gid: gid, home: u.HomeDir, shell: passwdShell(u.Username)}
	a.groups = []uint32{uint32(gid)}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("could not get groups of user %s: %w", u.Username, err)
	}
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil || g == gid {
			continue
		}
		a.groups = append(a.groups, uint32(g))
	}
	return a, nil
}

// passwdShell returns the login shell /etc/passwd lists for name, or /bin/sh.
// (os/user does not expose it.)
func passwdShell(name string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/bin/sh"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name && fields[6] != "" {
			return fields[6]
		}
	}
	return "/bin/sh"
}

// credential returns the credential to run as acct, or nil when no change
// is needed; an error in supervisord's words when the change is impossible.
func credential(acct *account) (*syscall.Credential, error) {
	if acct == nil || acct.uid == os.Getuid() {
		return nil, nil // supervisord: the current user may name itself
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("can't drop privilege as nonroot user")
	}
	return &syscall.Credential{
		Uid:    uint32(acct.uid),
		Gid:    uint32(acct.gid),
		Groups: append([]uint32(nil), acct.groups...), // never empty: the primary gid is first
	}, nil
}

// environment builds a program's environment (see the comment above).
// runAs is the user the program runs as (nil: the supervisor's user).
func (s *Supervisor) environment(p *config.Process, runAs *account) []string {
	url := p.ServerURL
	if url == "" {
		url = s.serverURL
	}
	env := s.baseEnvironment(runAs, url)
	env = append(env,
		config.EnvVar{Name: "SUPERVISOR_PROCESS_NAME", Value: p.Name},
		config.EnvVar{Name: "SUPERVISOR_GROUP_NAME", Value: p.Group})
	env = append(env, p.Environment...)
	return env.Strings()
}

// baseEnvironment is what every child of the supervisor gets, programs and
// cron jobs: the supervisor's environment (or, as root, the passwd
// entry's), SUPERVISOR_ENABLED and SUPERVISOR_SERVER_URL (when url is set).
func (s *Supervisor) baseEnvironment(runAs *account, url string) config.Environment {
	var env config.Environment
	if os.Geteuid() == 0 {
		a := runAs
		if a == nil {
			a = s.self
		}
		path := defaultPath
		if a == nil || a.uid == 0 {
			path = rootPath
		}
		if a != nil {
			env = append(env,
				config.EnvVar{Name: "HOME", Value: a.home},
				config.EnvVar{Name: "USER", Value: a.name},
				config.EnvVar{Name: "LOGNAME", Value: a.name},
				config.EnvVar{Name: "SHELL", Value: a.shell})
		}
		env = append(env, config.EnvVar{Name: "PATH", Value: path})
	} else {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env = append(env, config.EnvVar{Name: k, Value: v})
			}
		}
	}
	env = append(env, config.EnvVar{Name: "SUPERVISOR_ENABLED", Value: "1"})
	if url != "" {
		env = append(env, config.EnvVar{Name: "SUPERVISOR_SERVER_URL", Value: url})
	}
	return env
}

// searchPath is supervisord's get_path: the PATH the program will get, or
// supervisord's default.
func searchPath(env []string) []string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			if v == "" {
				break
			}
			return strings.Split(v, ":")
		}
	}
	return []string{"/bin", "/usr/bin", "/usr/local/bin"}
}

// resolveCommand finds a program's executable the way supervisord's
// get_execv_args does, with the PATH of env. The error is an *api.Error:
// NO_FILE when nothing is found, NOT_EXECUTABLE otherwise.
func resolveCommand(p *config.Process, env []string) (string, error) {
	if len(p.Argv) == 0 {
		return "", &api.Error{Code: api.NotExecutable, Detail: "command is empty"}
	}
	path, err := lookPath(p.Argv[0], searchPath(env))
	if err != nil {
		code := api.NotExecutable
		if e, ok := err.(*execError); ok && e.notFound {
			code = api.NoFile
		}
		return "", &api.Error{Code: code, Detail: err.Error()}
	}
	return path, nil
}

func containsSlash(s string) bool { return strings.IndexByte(s, '/') >= 0 }

// joinPath is os.path.join for a PATH entry and a program name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// pyRepr quotes s like Python's repr of a str, as supervisord's messages do
// ('web', or "it's" when s holds a single quote and no double quote).
func pyRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
