package logrotate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"roost/internal/testutil"
)

// golden is testdata/readfile_golden.json, made by supervisord's own
// readFile and tailFile (testdata/readfile_golden.py).
type golden struct {
	Files map[string]string
	Cases []struct {
		File         string
		Offset       int64
		Length       int64
		Read         string
		ReadError    string `json:"read_error"`
		Tail         string
		TailOffset   int64 `json:"tail_offset"`
		TailOverflow bool  `json:"tail_overflow"`
	}
}

const goldenPath = "testdata/readfile_golden.json"

func TestReadFileAndTailFileMatchSupervisord(t *testing.T) {
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 1000 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	dir := t.TempDir()
	for name, content := range g.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range g.Cases {
		path := filepath.Join(dir, c.File)
		what := fmt.Sprintf("%s offset=%d length=%d", c.File, c.Offset, c.Length)

		data, err := ReadFile(path, c.Offset, c.Length)
		wantErr := map[string]error{"": nil, "BAD_ARGUMENTS": ErrBadArguments, "FAILED": ErrFailed}[c.ReadError]
		switch {
		case wantErr == nil && err != nil:
			t.Errorf("ReadFile(%s) = error %v, want %q", what, err, c.Read)
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Errorf("ReadFile(%s) = %q, %v; want %s", what, data, err, c.ReadError)
		case wantErr == nil && string(data) != c.Read:
			t.Errorf("ReadFile(%s) = %q, want %q", what, data, c.Read)
		}

		data, off, overflow := TailFile(path, c.Offset, c.Length)
		if string(data) != c.Tail || off != c.TailOffset || overflow != c.TailOverflow {
			t.Errorf("TailFile(%s) = %q, %d, %v; want %q, %d, %v",
				what, data, off, overflow, c.Tail, c.TailOffset, c.TailOverflow)
		}
	}
}

// The golden file is supervisord's output, not hand-edited: regenerate it
// with the real supervisor package and compare.
func TestGoldenIsSupervisords(t *testing.T) {
	py := testutil.RequireBinary(t, "/usr/bin/python3")
	testutil.Require(t, exec.Command(py, "-c", "import supervisor.options").Run() == nil,
		"the supervisor Python package (apt install supervisor)")
	out, err := exec.Command(py, "testdata/readfile_golden.py").Output()
	if err != nil {
		t.Fatalf("readfile_golden.py: %v", err)
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("%s is stale: run /usr/bin/python3 testdata/readfile_golden.py > %s", goldenPath, goldenPath)
	}
}

func TestReadFileErrorsNameThePath(t *testing.T) {
	_, err := ReadFile("/nonexistent/roost.log", 0, 0)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrFailed wrapping ErrNotExist", err)
	}
	path := filepath.Join(t.TempDir(), "x.log")
	os.WriteFile(path, []byte("abc"), 0o644)
	_, err = ReadFile(path, -1, 5)
	if !errors.Is(err, ErrBadArguments) || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Errorf("bad arguments: %v, want ErrBadArguments naming %s", err, path)
	}
	// Extreme offsets do not overflow.
	if d, err := ReadFile(path, -1<<63, 0); err != nil || string(d) != "abc" {
		t.Errorf("ReadFile(min int64) = %q, %v", d, err)
	}
	if d, err := ReadFile(path, 1<<62, 1<<62); err != nil || len(d) != 0 {
		t.Errorf("ReadFile(huge) = %q, %v", d, err)
	}
	if d, off, ov := TailFile(path, 1<<63-1, 1<<63-1); string(d) != "" || off != 3 || ov {
		t.Errorf("TailFile(max int64) = %q, %d, %v", d, off, ov)
	}
}
