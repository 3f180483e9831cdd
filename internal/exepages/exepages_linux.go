package exepages

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// mapping is one range of the process's address space mapped from a file.
type mapping struct {
	start, end uintptr
	// perms are /proc/PID/maps' permissions, e.g. "r-xp".
	perms string
}

// readOnlyMappings returns the mappings of path in a /proc/PID/maps listing
// that can be neither written nor shared: the executable's code and
// read-only data, whose pages are always the file's. The writable data
// segment is left out, since its pages may hold values written since.
func readOnlyMappings(maps io.Reader, path string) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || strings.Join(f[5:], " ") != path {
			continue
		}
		if f[1] != "r-xp" && f[1] != "r--p" {
			continue
		}
		start, end, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("maps: malformed range %q", f[0])
		}
		s, err := strconv.ParseUint(start, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("maps: malformed range %q: %w", f[0], err)
		}
		e, err := strconv.ParseUint(end, 16, 64)
		if err != nil || e <= s {
			return nil, fmt.Errorf("maps: malformed range %q", f[0])
		}
		out = append(out, mapping{start: uintptr(s), end: uintptr(e), perms: f[1]})
	}
	return out, sc.Err()
}

// executableMappings lists the read-only mappings of the running
// executable.
func executableMappings() ([]mapping, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readOnlyMappings(f, exe)
}

// residentFile reads RssFile, the resident pages of mapped files, from
// /proc/self/status, in bytes.
func residentFile() (uint64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("status: malformed RssFile line %q", strings.TrimSpace(line))
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("status: no RssFile line")
}

// Release unmaps the pages of the executable's code and read-only data
// from the process (madvise MADV_DONTNEED), so that only those it reads
// from now on come back; it returns the resident file pages, in bytes,
// before and after. Call it once start-up is over.
func Release() (before, after uint64, err error) {
	maps, err := executableMappings()
	if err != nil {
		return 0, 0, err
	}
	if before, err = residentFile(); err != nil {
		return 0, 0, err
	}
	for _, m := range maps {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno != 0 {
			return before, 0, fmt.Errorf("madvise %s %x-%x: %w", m.perms, m.start, m.end, errno)
		}
	}
	after, err = residentFile()
	return before, after, err
}
