package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"roost/internal/testutil"
)

// The man pages are generated from the command line: every visible verb is
// in roost(1), and man renders each page without a warning.
func TestManPages(t *testing.T) {
	man := testutil.RequireBinary(t, "man")
	dir := t.TempDir()
	conf := filepath.Join("..", "..", "packaging", "roost.toml")
	out, stderr, code := roost(t, "man", "--dir", dir, "--conffile", conf)
	if code != 0 {
		t.Fatalf("roost man: exit %d\n%s%s", code, out, stderr)
	}
	for _, page := range []string{"roost.1", "roost-master.8", "roost.toml.5", "roost-supervisord.conf.5"} {
		cmd := exec.Command(man, "--warnings", "-E", "UTF-8", "-l", "-P", "cat", filepath.Join(dir, page))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
		var text, warn bytes.Buffer
		cmd.Stdout, cmd.Stderr = &text, &warn
		if err := cmd.Run(); err != nil || warn.Len() > 0 {
			t.Fatalf("man -l %s: %v\n%s", page, err, warn.String())
		}
		if !strings.Contains(text.String(), "NAME") {
			t.Errorf("%s renders without a NAME section:\n%s", page, text.String())
		}
		if page == "roost.1" {
			for _, c := range newApp(nil, nil).Commands {
				if !c.Hidden && !strings.Contains(text.String(), "roost "+c.Name) {
					t.Errorf("roost(1) does not describe %q", c.Name)
				}
			}
		}
		if page == "roost.toml.5" && !strings.Contains(text.String(), "[proxy]") {
			t.Errorf("roost.toml(5) does not quote the conffile:\n%s", text.String())
		}
	}
}

// bash: `roost <TAB>` offers the verbs, `roost admin <TAB>` its
// subcommands, and what was typed is never run as shell code.
func TestBashCompletion(t *testing.T) {
	bash := testutil.RequireBinary(t, "bash")
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	script := filepath.Join(dir, "roost.bash")
	out, stderr, code := roost(t, "completion", "bash")
	if code != 0 {
		t.Fatalf("roost completion bash: exit %d: %s", code, stderr)
	}
	if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		t.Helper()
		src := `. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
complete -p roost >/dev/null || exit 3
_roost; printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, append([]string{"--norc", "--noprofile", "-c", src, "bash", script}, words...)...)
		cmd.Env = []string{"PATH=" + filepath.Dir(bin) + ":/usr/bin:/bin", "HOME=" + dir}
		cmd.Dir = dir
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, got)
		}
		return strings.Fields(string(got))
	}
	verbs := complete("roost", "")
	for _, w := range []string{"status", "restart", "doctor", "master", "completion", "admin"} {
		if !slices.Contains(verbs, w) {
			t.Errorf("roost <TAB> does not offer %q: %v", w, verbs)
		}
	}
	if slices.Contains(verbs, "man") {
		t.Errorf("roost <TAB> offers the hidden verb man: %v", verbs)
	}
	if got := complete("roost", "st"); !slices.Equal(got, []string{"start", "status", "stop"}) {
		t.Errorf("roost st<TAB> = %v, want start status stop", got)
	}
	if got := complete("roost", "admin", ""); !slices.Contains(got, "users") || !slices.Contains(got, "nginx") {
		t.Errorf("roost admin <TAB> = %v, want users and nginx among them", got)
	}
	marker := filepath.Join(dir, "pwned")
	complete("roost", "$(touch "+marker+")", "")
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("completing ran a typed $(...) as shell code")
	}
}

// zsh: the script parses and registers _roost for roost.
func TestZshCompletion(t *testing.T) {
	zsh := testutil.RequireBinary(t, "zsh")
	out, stderr, code := roost(t, "completion", "zsh")
	if code != 0 || !strings.HasPrefix(out, "#compdef roost\n") {
		t.Fatalf("roost completion zsh: exit %d: %s\n%s", code, stderr, out)
	}
	script := filepath.Join(t.TempDir(), "_roost")
	if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(zsh, "-f", "-c", `autoload -Uz compinit && compinit -u -D && source "$1" && print -r -- ${_comps[roost]}`, "zsh", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	got, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "_roost" {
		t.Fatalf("zsh: %v: %q, want _roost registered for roost", err, got)
	}
	// What the script asks roost for: NAME:USAGE lines, which _describe shows.
	ask := exec.Command(testutil.RoostBinary(t, nil), "--generate-bash-completion")
	ask.Env = []string{"0=zsh", "PATH=/usr/bin:/bin"}
	words, err := ask.Output()
	if err != nil || !strings.Contains(string(words), "\nstatus:") || !strings.Contains(string(words), "\ndoctor:check") {
		t.Errorf("roost --generate-bash-completion for zsh: %v\n%s", err, words)
	}
	if _, stderr, code := roost(t, "completion", "fish"); code != 2 || !strings.Contains(stderr, "bash|zsh") {
		t.Errorf("roost completion fish: exit %d, %q; want 2 and the usage", code, stderr)
	}
}

// The conffile the package installs is valid as shipped: the master starts
// with it and runs nobody until the admin lists users.
func TestPackagedRoostTOML(t *testing.T) {
	conf := filepath.Join("..", "..", "packaging", "roost.toml")
	out, stderr, code := roost(t, "master", "--check", "-c", conf)
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("roost master --check %s: exit %d\n%s%s", conf, code, out, stderr)
	}
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "names   = []") || !strings.Contains(string(data), "enabled = false") {
		t.Errorf("the packaged roost.toml lists users or enables the proxy:\n%s", data)
	}
}
