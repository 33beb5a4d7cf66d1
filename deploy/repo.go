package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// hookMarker marks the hooks roost writes, so --init rewrites its own and
// never someone else's.
const hookMarker = "# written by roost deploy --init"

// hookScript is the pre-receive hook: git runs it as the pusher, after the
// objects arrived and before any ref moves, so its failure rejects the push.
func hookScript(roost, masterConfig string) string {
	return fmt.Sprintf("#!/bin/sh\n%s: a push to the deploy branch builds a release and\n"+
		"# switches the project to it; its failure rejects the push.\nexec %s deploy --hook --master-config %s\n",
		hookMarker, shellQuote(roost), shellQuote(masterConfig))
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Init makes the user's bare repository (if it is not there) and its
// pre-receive hook, which runs roost (the executable at roost) with
// roost.toml at masterConfig. It is idempotent: a second call changes
// nothing but a hook that calls another roost.
func Init(l Layout, roost, masterConfig string, out io.Writer) error {
	if fi, err := os.Stat(filepath.Join(l.Repo, "HEAD")); err == nil && fi.Mode().IsRegular() {
		fmt.Fprintf(out, "repository %s exists\n", l.Repo)
	} else if _, err := os.Stat(l.Repo); err == nil {
		return fmt.Errorf("%s exists and is not a bare git repository: move it away or set [deploy] repo", l.Repo)
	} else {
		if err := os.MkdirAll(filepath.Dir(l.Repo), 0o755); err != nil {
			return err
		}
		cmd := exec.Command("git", "init", "--quiet", "--bare", "--initial-branch="+l.Branch, l.Repo)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git init --bare %s: %v: %s", l.Repo, err, strings.TrimSpace(string(b)))
		}
		fmt.Fprintf(out, "created the bare repository %s\n", l.Repo)
	}
	hook := filepath.Join(l.Repo, "hooks", "pre-receive")
	want := hookScript(roost, masterConfig)
	old, err := os.ReadFile(hook)
	switch {
	case err == nil && string(old) == want:
		fmt.Fprintf(out, "hook %s is up to date\n", hook)
		return nil
	case err == nil && !strings.Contains(string(old), hookMarker):
		return fmt.Errorf("%s exists and roost did not write it: move it away (roost's hook runs the deploy)", hook)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(filepath.Dir(hook), 0o755); err != nil {
		return err
	}
	tmp := hook + ".roost-new"
	if err := os.WriteFile(tmp, []byte(want), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, hook); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote the hook %s\npush with: git push %s %s\n", hook, remoteHint(l), l.Branch)
	return nil
}

// remoteHint is the remote a user pushes to: USER@HOST:REPO.
func remoteHint(l Layout) string {
	rel, err := filepath.Rel(l.Home, l.Repo)
	if err != nil {
		rel = l.Repo
	}
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = filepath.Base(l.Home)
	}
	return user + "@" + host + ":" + rel
}

// commitRE is a full commit id (SHA-1 or SHA-256).
var commitRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`) })

// Hook is the pre-receive hook: in holds git's "OLD NEW REF" lines. A push
// to the deploy branch deploys NEW (its error rejects the whole push);
// other refs are stored, not deployed.
func Hook(ctx context.Context, l Layout, in io.Reader, out io.Writer, opt Options) error {
	want := "refs/heads/" + l.Branch
	sc := bufio.NewScanner(in)
	var deployErr error
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || !commitRE().MatchString(f[0]) || !commitRE().MatchString(f[1]) {
			return fmt.Errorf("pre-receive: unexpected input line %.80q", sc.Text())
		}
		ref, commit := f[2], f[1]
		switch {
		case ref != want:
			fmt.Fprintf(out, "-----> %s stored, not deployed (pushes to %s deploy)\n", ref, l.Branch)
		case strings.Trim(commit, "0") == "":
			fmt.Fprintf(out, "-----> %s deleted: nothing deployed, %s keeps running\n", ref, l.Current)
		default:
			if _, err := Deploy(ctx, l, Source{Repo: l.Repo, Ref: ref, Commit: commit, Old: f[0]}, out, opt); err != nil {
				deployErr = err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return deployErr
}

// refIs checks that ref of repo is still at old (all zeros: absent).
func refIs(ctx context.Context, repo, ref, old string, env []string) error {
	cmd := exec.CommandContext(ctx, "git", "--git-dir="+repo, "rev-parse", "--verify", "--quiet", ref)
	cmd.Env = env
	b, _ := cmd.Output()
	now := strings.TrimSpace(string(b))
	if now == "" {
		now = strings.Repeat("0", len(old))
	}
	if now != old {
		return fmt.Errorf("%s moved to %.12s while this push waited for another deploy: pull, merge and push again", ref, now)
	}
	return nil
}
