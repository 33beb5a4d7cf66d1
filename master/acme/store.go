package acme

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// The layout under Config.Dir (the master's {state_dir}/acme), all root's:
//
//	account.key                  the ACME account key (0600)
//	challenges/TOKEN             HTTP-01 key authorizations nginx serves (0755 dir, 0644 files),
//	                             unless Config.ChallengeDir puts them elsewhere
//	certs/HOST/chain.pem         the certificate and its chain (0600, dir 0700)
//	certs/HOST/key.pem           its private key (0600)
const (
	accountKeyFile = "account.key"
	challengesDir  = "challenges"
	certsDir       = "certs"
	chainFile      = "chain.pem"
	keyFile        = "key.pem"
)

// hostRE is a plain lower-case DNS name: what a certificate is issued for
// and what names its directory. config/nginx routed it already; this is
// the second check before the name becomes a path.
var hostRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
})

// tokenRE is an ACME token (base64url), before it names a file.
var tokenRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`) })

// checkHost refuses anything but a plain DNS name.
func checkHost(h string) error {
	if len(h) > 253 || !hostRE().MatchString(h) {
		return fmt.Errorf("%q is not a plain host name", h)
	}
	return nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory, synced, with mode perm, then renamed over path.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// mkdirOwned makes dir (and parents) and forces its mode and root's
// ownership, refusing a symlink in its place.
func mkdirOwned(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := os.Chmod(dir, perm); err != nil {
		return err
	}
	return os.Lchown(dir, 0, 0)
}

// Files are one host's certificate files.
type Files struct {
	Chain string `json:"chain"`
	Key   string `json:"key"`
	// Serial is the certificate's serial number in hex: a new one means
	// nginx must load the files again.
	Serial string `json:"serial,omitempty"`
}

// certFiles are host's files under dir.
func certFiles(dir, host string) Files {
	d := filepath.Join(dir, certsDir, host)
	return Files{Chain: filepath.Join(d, chainFile), Key: filepath.Join(d, keyFile)}
}

// saveCert stores a certificate and its key: the key first, then the
// chain, each atomically; nginx reads them only after the master renders
// and reloads.
func saveCert(dir, host string, chain, key []byte) (Files, error) {
	f := certFiles(dir, host)
	if err := mkdirOwned(filepath.Dir(f.Chain), 0o700); err != nil {
		return f, err
	}
	if err := writeAtomic(f.Key, key, 0o600); err != nil {
		return f, err
	}
	if err := writeAtomic(f.Chain, chain, 0o600); err != nil {
		return f, err
	}
	return f, nil
}

// loadCert reads the leaf certificate of a stored chain.
func loadCert(files Files) (*x509.Certificate, error) {
	data, err := os.ReadFile(files.Chain)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(files.Key); err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate in " + files.Chain)
	}
	return x509.ParseCertificate(b.Bytes)
}

// storedHosts lists the hosts with a directory under certs/.
func storedHosts(dir string) []string {
	ents, err := os.ReadDir(filepath.Join(dir, certsDir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && checkHost(e.Name()) == nil && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}
