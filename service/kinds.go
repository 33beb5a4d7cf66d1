package service

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Kind is one service template: the server it runs and how.
type Kind struct {
	Name string
	// Package is the Debian package with the server, named when it is
	// missing.
	Package string
	// URLVar is the variable the first service of the kind sets.
	URLVar string
	// StopSignal is the server's clean shutdown: postgres's fast
	// shutdown (INT) commits nothing half-done and needs no client to
	// leave; MariaDB and redis shut down cleanly on TERM (redis saves its
	// data set first).
	StopSignal string
	// binaries are the programs the template runs, found by find.
	binaries []string
	// restoreStopped: restore replaces files, the server must be stopped.
	restoreStopped bool

	init    func(s *Service) error
	command func(s *Service) []string
	url     func(s *Service) string
	client  func(s *Service) (argv, env []string)
	// ping are the client's arguments for a query that answers once the
	// server takes connections.
	ping    []string
	dump    func(s *Service, file string) error
	restore func(s *Service, file string) error
}

var kinds = map[string]*Kind{}

func init() {
	for _, k := range []*Kind{postgres, mariadb, redis} {
		kinds[k.Name] = k
	}
	kinds["mysql"] = mariadb
}

// KindNames lists the service types.
func KindNames() []string {
	var n []string
	for k := range kinds {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// KindOf returns the template of a type name (nil: none).
func KindOf(name string) *Kind { return kinds[name] }

// installed checks every binary of the template, naming the package.
func (k *Kind) installed() error {
	for _, b := range k.binaries {
		if _, err := find(b); err != nil {
			return fmt.Errorf("%s is not installed (no %s): ask your administrator to run `apt-get install %s`", k.Package, b, k.Package)
		}
	}
	return nil
}

// searchPath is where find looks, in order; postgres's binaries are in
// /usr/lib/postgresql/VERSION/bin (the newest version wins).
var (
	searchPath = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}
	pgBinGlob  = "/usr/lib/postgresql/*/bin"
)

// find returns the absolute path of a server binary.
func find(name string) (string, error) {
	if strings.HasPrefix(name, "pg:") {
		dirs, _ := filepath.Glob(pgBinGlob)
		sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
		for _, d := range dirs {
			p := filepath.Join(d, strings.TrimPrefix(name, "pg:"))
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, nil
			}
		}
		return "", os.ErrNotExist
	}
	for _, d := range searchPath {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// bin is find for a binary installed() checked.
func bin(name string) string {
	p, err := find(name)
	if err != nil {
		return name
	}
	return p
}

// run runs argv as the caller (the user), with extra variables and stdin,
// and returns the end of its output in the error.
func run(argv, env []string, stdin io.Reader, stdout io.Writer) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stderr = &out
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		cmd.Stdout = &out
	}
	if err := cmd.Run(); err != nil {
		msg := out.String()
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return fmt.Errorf("%s: %w\n%s", filepath.Base(argv[0]), err, strings.TrimSpace(msg))
	}
	return nil
}

// runTo runs argv with its output in file (created 0600).
func runTo(file string, argv, env []string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := run(argv, env, nil, f); err != nil {
		f.Close()
		os.Remove(file)
		return err
	}
	return f.Close()
}

// runFrom runs argv with file as its input.
func runFrom(file string, argv, env []string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return run(argv, env, f, nil)
}

// copyFile copies src to dst (0600), by rename.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, data, 0o600)
}

// The database user every SQL service has, and the database it owns,
// which the URL names: "app" in postgres and MariaDB alike.
const (
	dbUser = "app"
	dbName = "app"
)

var postgres = &Kind{
	Name: "postgres", Package: "postgresql", URLVar: "DATABASE_URL", StopSignal: "INT",
	binaries: []string{"pg:initdb", "pg:postgres", "pg:pg_dump", "pg:pg_restore", "pg:psql"},
	init: func(s *Service) error {
		pwfile := filepath.Join(s.Dir, ".pw")
		if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
			return err
		}
		defer os.Remove(pwfile)
		if err := run([]string{bin("pg:initdb"), "-D", s.DataDir(), "-U", dbUser, "--pwfile=" + pwfile,
			"--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-instructions"}, nil, nil, nil); err != nil {
			return err
		}
		// The database is "app", as MariaDB's: initdb's "postgres",
		// renamed by a single-user backend (no server, no socket).
		// It exits 0 after a failed statement: its log (stderr) says.
		single := exec.Command(bin("pg:postgres"), "--single", "-D", s.DataDir(), "-c", "listen_addresses=",
			"-c", "unix_socket_directories=", "template1")
		single.Stdin = strings.NewReader("ALTER DATABASE postgres RENAME TO " + dbName + ";\n")
		out, err := single.CombinedOutput()
		if i := bytes.Index(out, []byte("ERROR:")); i >= 0 {
			return fmt.Errorf("postgres --single: %s", bytes.TrimSpace(out[i:]))
		} else if err != nil {
			return fmt.Errorf("postgres --single: %w: %s", err, bytes.TrimSpace(out))
		}
		conf := fmt.Sprintf("\n# roost service: loopback and a socket only its user can reach\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nunix_socket_permissions = 0700\n",
			s.Port, s.SocketDir())
		f, err := os.OpenFile(filepath.Join(s.DataDir(), "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(conf); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	},
	command: func(s *Service) []string { return []string{bin("pg:postgres"), "-D", s.DataDir()} },
	ping:    []string{"-X", "-c", "SELECT 1"},
	url: func(s *Service) string {
		return fmt.Sprintf("postgresql://%s:%s@127.0.0.1:%d/%s", dbUser, s.Password, s.Port, dbName)
	},
	client: func(s *Service) ([]string, []string) {
		return []string{bin("pg:psql"), "-h", s.SocketDir(), "-p", strconv.Itoa(s.Port), "-U", dbUser, "-d", dbName}, pgEnv(s)
	},
	dump: func(s *Service, file string) error {
		return run([]string{bin("pg:pg_dump"), "-h", s.SocketDir(), "-p", strconv.Itoa(s.Port), "-U", dbUser,
			"--format=custom", "-f", file, dbName}, pgEnv(s), nil, nil)
	},
	restore: func(s *Service, file string) error {
		return run([]string{bin("pg:pg_restore"), "-h", s.SocketDir(), "-p", strconv.Itoa(s.Port), "-U", dbUser,
			"--clean", "--if-exists", "--no-owner", "-d", dbName, file}, pgEnv(s), nil, nil)
	},
}

func pgEnv(s *Service) []string { return []string{"PGPASSWORD=" + s.Password, "PGCONNECT_TIMEOUT=10"} }

var mariadb = &Kind{
	Name: "mariadb", Package: "mariadb-server", URLVar: "DATABASE_URL", StopSignal: "TERM",
	binaries: []string{"mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump"},
	init: func(s *Service) error {
		cnf := fmt.Sprintf("[mysqld]\ndatadir=%s\nsocket=%s\npid-file=%s\nport=%d\nbind-address=127.0.0.1\nskip-name-resolve\n",
			s.DataDir(), filepath.Join(s.SocketDir(), "mysqld.sock"), filepath.Join(s.SocketDir(), "mysqld.pid"), s.Port)
		if err := writeFile(filepath.Join(s.Dir, "my.cnf"), []byte(cnf), 0o600); err != nil {
			return err
		}
		client := fmt.Sprintf("[client]\nuser=%s\npassword=%s\nsocket=%s\n", dbUser, s.Password, filepath.Join(s.SocketDir(), "mysqld.sock"))
		if err := writeFile(filepath.Join(s.Dir, "client.cnf"), []byte(client), 0o600); err != nil {
			return err
		}
		if err := run([]string{bin("mariadb-install-db"), "--defaults-file=" + filepath.Join(s.Dir, "my.cnf"),
			"--auth-root-authentication-method=socket", "--skip-test-db"}, nil, nil, nil); err != nil {
			return err
		}
		sql := fmt.Sprintf("FLUSH PRIVILEGES;\nCREATE DATABASE %s;\nCREATE USER '%s'@'%%' IDENTIFIED BY '%s';\nCREATE USER '%s'@'localhost' IDENTIFIED BY '%s';\nGRANT ALL ON *.* TO '%s'@'%%' WITH GRANT OPTION;\nGRANT ALL ON *.* TO '%s'@'localhost' WITH GRANT OPTION;\n",
			dbName, dbUser, s.Password, dbUser, s.Password, dbUser, dbUser)
		return run([]string{bin("mariadbd"), "--defaults-file=" + filepath.Join(s.Dir, "my.cnf"), "--bootstrap"}, nil, strings.NewReader(sql), nil)
	},
	command: func(s *Service) []string {
		return []string{bin("mariadbd"), "--defaults-file=" + filepath.Join(s.Dir, "my.cnf")}
	},
	ping: []string{"-e", "SELECT 1"},
	url: func(s *Service) string {
		return fmt.Sprintf("mysql://%s:%s@127.0.0.1:%d/%s", dbUser, s.Password, s.Port, dbName)
	},
	client: func(s *Service) ([]string, []string) {
		return []string{bin("mariadb"), "--defaults-file=" + filepath.Join(s.Dir, "client.cnf"), dbName}, nil
	},
	dump: func(s *Service, file string) error {
		return runTo(file, []string{bin("mariadb-dump"), "--defaults-file=" + filepath.Join(s.Dir, "client.cnf"),
			"--single-transaction", "--routines", "--databases", dbName}, nil)
	},
	restore: func(s *Service, file string) error {
		return runFrom(file, []string{bin("mariadb"), "--defaults-file=" + filepath.Join(s.Dir, "client.cnf")}, nil)
	},
}

var redis = &Kind{
	Name: "redis", Package: "redis-server", URLVar: "REDIS_URL", StopSignal: "TERM",
	binaries:       []string{"redis-server", "redis-cli"},
	restoreStopped: true,
	init: func(s *Service) error {
		if err := os.Mkdir(s.DataDir(), 0o700); err != nil {
			return err
		}
		// redis-server reads quoted strings; the paths are checked
		// (checkHome) and the password is hex.
		conf := fmt.Sprintf("# roost service %s: loopback and a socket only its user can reach\nbind 127.0.0.1\nport %d\nprotected-mode yes\nunixsocket %q\nunixsocketperm 700\nrequirepass %s\ndir %q\ndbfilename dump.rdb\nsave 60 1\ndaemonize no\nlogfile \"\"\n",
			s.Name, s.Port, filepath.Join(s.SocketDir(), "redis.sock"), s.Password, s.DataDir())
		return writeFile(filepath.Join(s.Dir, "redis.conf"), []byte(conf), 0o600)
	},
	command: func(s *Service) []string { return []string{bin("redis-server"), filepath.Join(s.Dir, "redis.conf")} },
	ping:    []string{"PING"},
	url: func(s *Service) string {
		return fmt.Sprintf("redis://default:%s@127.0.0.1:%d/0", s.Password, s.Port)
	},
	client: func(s *Service) ([]string, []string) {
		return []string{bin("redis-cli"), "-s", filepath.Join(s.SocketDir(), "redis.sock")}, []string{"REDISCLI_AUTH=" + s.Password}
	},
	dump: func(s *Service, file string) error {
		argv, env := s.Client()
		if err := run(append(argv, "SAVE"), env, nil, nil); err != nil {
			return err
		}
		return copyFile(filepath.Join(s.DataDir(), "dump.rdb"), file)
	},
	restore: func(s *Service, file string) error {
		return copyFile(file, filepath.Join(s.DataDir(), "dump.rdb"))
	},
}
