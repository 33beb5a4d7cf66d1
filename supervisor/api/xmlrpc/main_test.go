package xmlrpc

import (
	"os"
	"testing"

	"roost/internal/testutil"
)

// TestMain removes the roost binary the compatibility test builds.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveRoostBinary()
	os.Exit(code)
}
