package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"roost/config"
)

// controlConfig is what the ctl verbs take from a configuration.
type controlConfig struct {
	socket             string
	username, password string
}

// implicitConfig returns the configuration supervisorctl would find without
// -c, when the current user owns it (or is root): another user's file (say
// the system's /etc/supervisor/supervisord.conf) does not choose our socket.
func implicitConfig() string {
	cwd, err := os.Getwd()
	if err != nil {
		return ""
	}
	p, err := config.Find(cwd)
	if err != nil {
		return ""
	}
	euid := os.Geteuid()
	if fi, err := os.Stat(p); err != nil {
		return ""
	} else if st, ok := fi.Sys().(*syscall.Stat_t); !ok || (int(st.Uid) != euid && euid != 0) {
		return ""
	}
	return p
}

// readControl reads the socket and credentials from a configuration:
// [supervisorctl] serverurl=unix://PATH, else [unix_http_server] file=.
// It reads only those sections (config.LoadControl), so a mistake
// elsewhere in the file does not hide the socket.
func readControl(path string) (controlConfig, error) {
	cfg, err := config.LoadControl(path, config.LoadOptions{})
	if err != nil {
		return controlConfig{}, fmt.Errorf("%s cannot be read, so the socket it names is unknown "+
			"(give -s SOCKET to reach a running roost anyway):\n%v", path, err)
	}
	var cc controlConfig
	if sc := cfg.Supervisorctl; sc != nil {
		if p, ok := strings.CutPrefix(sc.ServerURL, "unix://"); ok {
			cc.socket = p
		}
		cc.username, cc.password = sc.Username, sc.Password
	}
	if cc.socket == "" && cfg.UnixHTTPServer != nil {
		cc.socket = cfg.UnixHTTPServer.File
	}
	return cc, nil
}
