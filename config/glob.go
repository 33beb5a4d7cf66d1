package config

import (
	"sort"
	"strings"
)

// This file ports Python's glob.glob (non-recursive) and fnmatch, which
// supervisord uses for [include] files=. They differ from Go's
// filepath.Glob: '*' and '?' do not match a leading '.' unless the pattern
// starts with one, a backslash is an ordinary character, "[!...]" negates,
// and an unclosed '[' is literal.

// globFS is what globbing needs from the file system.
type globFS interface {
	// lexists reports whether the path exists, without following a final symlink.
	lexists(path string) bool
	// isDir reports whether the path is a directory, following symlinks.
	isDir(path string) bool
	// readDirNames lists a directory; dirsOnly keeps entries that are
	// directories (following symlinks). Errors yield no names.
	readDirNames(dir string, dirsOnly bool) []string
}

// maxGlobResults bounds what one include pattern may match.
const maxGlobResults = 1000

func hasMagic(s string) bool { return strings.ContainsAny(s, "*?[") }

// pySplit is os.path.split.
func pySplit(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/') + 1
	head, tail := p[:i], p[i:]
	if head != "" && strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return head, tail
}

// pyJoin is os.path.join for two parts.
func pyJoin(a, b string) string {
	if strings.HasPrefix(b, "/") || a == "" {
		return b
	}
	if strings.HasSuffix(a, "/") {
		return a + b
	}
	return a + "/" + b
}

// pyGlob returns the paths matching pattern, unsorted (glob.glob order).
func pyGlob(fs globFS, pattern string) []string {
	var out []string
	pyIglob(fs, pattern, false, func(p string) bool {
		out = append(out, p)
		return len(out) < maxGlobResults
	})
	return out
}

// pyIglob is glob._iglob; yield returns false to stop.
func pyIglob(fs globFS, pathname string, dirsOnly bool, yield func(string) bool) bool {
	dirname, basename := pySplit(pathname)
	if !hasMagic(pathname) {
		if basename != "" {
			if fs.lexists(pathname) {
				return yield(pathname)
			}
		} else if fs.isDir(dirname) {
			return yield(pathname)
		}
		return true
	}
	if dirname == "" {
		for _, n := range glob1(fs, "", basename, dirsOnly) {
			if !yield(n) {
				return false
			}
		}
		return true
	}
	var dirs []string
	if dirname != pathname && hasMagic(dirname) {
		pyIglob(fs, dirname, true, func(d string) bool {
			dirs = append(dirs, d)
			return len(dirs) < maxGlobResults
		})
	} else {
		dirs = []string{dirname}
	}
	for _, d := range dirs {
		var names []string
		if hasMagic(basename) {
			names = glob1(fs, d, basename, dirsOnly)
		} else if basename != "" {
			if fs.lexists(pyJoin(d, basename)) {
				names = []string{basename}
			}
		} else if fs.isDir(d) {
			names = []string{basename}
		}
		for _, n := range names {
			if !yield(pyJoin(d, n)) {
				return false
			}
		}
	}
	return true
}

// glob1 lists dir and keeps the names matching pattern, hiding dot files
// unless the pattern starts with a dot.
func glob1(fs globFS, dir, pattern string, dirsOnly bool) []string {
	d := dir
	if d == "" {
		d = "."
	}
	names := fs.readDirNames(d, dirsOnly)
	sort.Strings(names) // scandir order is arbitrary; the caller sorts anyway
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(pattern, ".") && strings.HasPrefix(n, ".") {
			continue
		}
		if fnmatch(n, pattern) {
			out = append(out, n)
		}
	}
	return out
}

// fnmatch reports whether name matches pattern with Python's fnmatch rules
// (case-sensitive, as on POSIX).
func fnmatch(name, pattern string) bool {
	return matchRunes([]rune(name), []rune(pattern))
}

func matchRunes(name, pat []rune) bool {
	// Iterative matching with backtracking to the last '*'.
	ni, pi := 0, 0
	starP, starN := -1, -1
	for ni < len(name) {
		if pi < len(pat) {
			switch pat[pi] {
			case '*':
				starP, starN = pi, ni
				pi++
				continue
			case '?':
				ni++
				pi++
				continue
			case '[':
				if ok, next, valid := matchClass(name[ni], pat, pi); valid {
					if ok {
						ni++
						pi = next
						continue
					}
				} else if name[ni] == '[' {
					ni++
					pi++
					continue
				}
			default:
				if pat[pi] == name[ni] {
					ni++
					pi++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starN++
		ni, pi = starN, starP+1
	}
	for pi < len(pat) && pat[pi] == '*' {
		pi++
	}
	return pi == len(pat)
}

// matchClass matches c against the bracket expression starting at pat[i]
// ('['). valid is false when the bracket is unclosed (then '[' is literal).
// A leading '!' negates, a ']' right after '[' or '[!' is literal, "a-z" is
// a range; a reversed range matches nothing.
func matchClass(c rune, pat []rune, i int) (ok bool, next int, valid bool) {
	j := i + 1
	if j < len(pat) && pat[j] == '!' {
		j++
	}
	if j < len(pat) && pat[j] == ']' {
		j++
	}
	for j < len(pat) && pat[j] != ']' {
		j++
	}
	if j >= len(pat) {
		return false, 0, false
	}
	body := pat[i+1 : j]
	neg := false
	if len(body) > 0 && body[0] == '!' {
		neg, body = true, body[1:]
	}
	if len(body) == 0 {
		// "[]" cannot occur (the ']' would be literal); "[!]" matches anything.
		return neg, j + 1, true
	}
	match := false
	for k := 0; k < len(body); k++ {
		if k+2 < len(body) && body[k+1] == '-' {
			if body[k] <= c && c <= body[k+2] {
				match = true
			}
			k += 2
			continue
		}
		if body[k] == c {
			match = true
		}
	}
	return match != neg, j + 1, true
}
