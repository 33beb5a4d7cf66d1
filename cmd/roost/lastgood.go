package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"roost/config"
)

// The last good configuration (issue 13, point 9): a managed supervisor
// saves the files of every configuration it applied in the user's state
// directory, as the user; restarted while the file on disk is broken (the
// master restarted, the supervisor was killed), it runs that copy instead
// of nothing, so the user's programs and routes stay up, and reports the
// broken file as CONFIG-ERROR (running "saved").

// savedConfig is the state file: the main file's path and the bytes of
// every file the configuration was read from.
type savedConfig struct {
	Main  string            `json:"main"`
	Files map[string][]byte `json:"files"`
}

// maxSavedConfig bounds the state file that is read back.
const maxSavedConfig = 16 << 20

// lastGoodPath is $XDG_STATE_HOME/roost/last-good-DIGEST.json, else
// ~/.local/state/roost/last-good-DIGEST.json, DIGEST naming the main file:
// one saved configuration per project file, so two supervisors of the
// same user (a test's, a hand-run one beside the master's) never take
// each other's.
func lastGoodPath(main string) (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".local", "state")
	}
	sum := sha256.Sum256([]byte(main))
	return filepath.Join(dir, "roost", "last-good-"+hex.EncodeToString(sum[:8])+".json"), nil
}

// saveLastGood writes cfg's files to the state file (atomically, 0600).
// The files are read again after cfg was loaded from them, so what was
// read is loaded once more (with opts) and saved only if it still loads: a
// broken edit saved in between is never kept as the last good one.
func saveLastGood(state string, cfg *config.Config, opts config.LoadOptions) error {
	sc := savedConfig{Main: cfg.File, Files: map[string][]byte{}}
	files := cfg.Files
	if len(files) == 0 {
		files = []string{cfg.File}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) && f == cfg.File {
			// No file yet (the empty configuration): nothing worth saving.
			return os.Remove(state)
		}
		if err != nil {
			return err
		}
		sc.Files[f] = data
	}
	opts.Files = sc.Files
	if _, err := config.Load(cfg.File, opts); err != nil {
		return fmt.Errorf("the files changed since they were applied: %w", err)
	}
	data, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(state), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(state), ".last-good-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), state)
}

// loadLastGood loads the saved copy of the configuration at path.
func loadLastGood(state, path string, opts config.LoadOptions) (*config.Config, error) {
	f, err := os.Open(state)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var sc savedConfig
	if err := json.NewDecoder(io.LimitReader(f, maxSavedConfig)).Decode(&sc); err != nil {
		return nil, fmt.Errorf("%s: %w", state, err)
	}
	if sc.Main != path {
		return nil, fmt.Errorf("%s holds %s, not %s", state, sc.Main, path)
	}
	opts.Files = sc.Files
	return config.Load(path, opts)
}

// lastGoodSaver returns the Applied callback of a managed supervisor.
func lastGoodSaver(state string, opts config.LoadOptions, log func() *slog.Logger) func(*config.Config) {
	return func(cfg *config.Config) {
		if err := saveLastGood(state, cfg, opts); err != nil && !errors.Is(err, os.ErrNotExist) {
			log().Warn("cannot save the last good configuration", "file", state, "err", err)
		}
	}
}
