package config

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// readRegularFile reads at most limit bytes of a regular file. It opens with
// O_NONBLOCK so that a FIFO or device named by an include cannot block, and
// refuses anything that is not a regular file once open (fstat, so there is
// no window between the check and the read). Symlinks are followed: the
// loader runs as the user whose files these are.
func readRegularFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		if st.IsDir() {
			return nil, errIsDir
		}
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("file is %d bytes, more than roost's limit of %d for a configuration file", st.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is more than roost's limit of %d bytes for a configuration file", limit)
	}
	return data, nil
}
