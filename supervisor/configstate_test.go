package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// The configuration-error state through its transitions, with a real
// supervisor and real processes: broken at start (CONFIG-ERROR, nothing
// runs), fixed (OK, the program runs), broken again (STALE, the same pid
// keeps running), fixed again (OK).
func TestConfigStateTransitions(t *testing.T) {
	home := t.TempDir()
	conf := filepath.Join(home, "supervisord.conf")
	write := func(body string) {
		t.Helper()
		tmp := conf + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, conf); err != nil {
			t.Fatal(err)
		}
	}
	head := "[supervisord]\nlogfile=" + home + "/roost.log\nchildlogdir=" + home + "\nsilent=true\n"
	write(head + "[program:web]\ncommand=/bin/sleep 1000\nstartsecs=1o\n")
	load := func() (*config.Config, error) { return config.Load(conf, config.LoadOptions{Dir: home}) }
	_, broken := load()
	if broken == nil {
		t.Fatal("the broken file loaded")
	}
	empty, err := config.LoadEmpty(conf, config.LoadOptions{Dir: home})
	if err != nil {
		t.Fatal(err)
	}
	appliedc := make(chan *config.Config, 16)
	h := start(t, empty, func(o *Options) {
		o.Load, o.Watch, o.Broken, o.Managed = load, true, broken, true
		o.Applied = func(c *config.Config) {
			select {
			case appliedc <- c:
			default:
			}
		}
	})
	st := h.s.ConfigState()
	if st.State != api.ConfigError || st.Running != "none" || !st.Blocked() || !strings.Contains(st.Error, "supervisord.conf:7") {
		t.Errorf("broken at start: %+v", st)
	}
	if !strings.Contains(st.Summary(), "no programs run") {
		t.Errorf("summary: %q", st.Summary())
	}

	write(head + "[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
	testutil.Eventually(t, 30*time.Second, "web running after the fix", func() bool {
		return h.s.ConfigState().State == api.ConfigOK && len(h.s.AllProcessInfo()) == 1 && h.info("web").State == api.Running
	})
	if c := <-appliedc; c.Group("web") == nil {
		t.Errorf("Applied not called with the fixed configuration")
	}
	pid := h.info("web").PID

	write(head + "[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\nautorestart=maybe\n")
	testutil.Eventually(t, 30*time.Second, "STALE after a broken edit", func() bool {
		return h.s.ConfigState().State == api.ConfigStale
	})
	st = h.s.ConfigState()
	if st.Blocked() || !strings.Contains(st.Error, "supervisord.conf:8") || !strings.Contains(st.Summary(), "previous") {
		t.Errorf("broken edit: %+v", st)
	}
	if got := h.info("web"); got.PID != pid || got.State != api.Running {
		t.Errorf("the broken edit touched web: %+v (pid was %d)", got, pid)
	}
	if _, err := h.s.Update(context.Background(), nil); api.CodeOf(err) != api.CantReread {
		t.Errorf("update of the broken file: %v", err)
	}

	write(head + "[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
	testutil.Eventually(t, 30*time.Second, "OK again", func() bool { return h.s.ConfigState().State == api.ConfigOK })
	if got := h.info("web"); got.PID != pid {
		t.Errorf("restoring the same file restarted web: %+v (pid was %d)", got, pid)
	}

	// A misspelt key applied live is a warning in the log and in the state.
	write(head + "[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\nenviroment=A=1\n")
	testutil.Eventually(t, 30*time.Second, "the typo's warning in the state", func() bool {
		ws := h.s.ConfigState().Warnings
		return len(ws) == 1 && strings.Contains(ws[0], "enviroment")
	})
	testutil.Eventually(t, 30*time.Second, "the typo's warning in the main log", func() bool {
		return strings.Contains(h.mainLog(), "enviroment")
	})
}
