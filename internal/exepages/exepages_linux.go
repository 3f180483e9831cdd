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
//
// Unmapping alone is not enough on kernels that keep files in large folios
// (ext4 and XFS on Linux 6.x write and read a binary in pieces of up to
// 2 MiB): a page read again maps its whole folio back. So Release also
// drops the executable's pages that nothing maps any more from the page
// cache (posix_fadvise POSIX_FADV_DONTNEED) and turns read-ahead off for
// its mappings (MADV_RANDOM): a page read again is then read alone, 4 KiB
// from the file, and the process holds what it uses rather than what its
// start-up passed by. Pages another process maps stay cached.
func Release() (before, after uint64, err error) {
	maps, err := executableMappings()
	if err != nil {
		return 0, 0, err
	}
	if before, err = residentFile(); err != nil {
		return 0, 0, err
	}
	for _, m := range maps {
		if err := madvise(m, syscall.MADV_RANDOM); err != nil {
			return before, 0, err
		}
	}
	// /proc/self/exe is the file the mappings are of, even if the path
	// now names another one. A binary the process may run but not read
	// (mode 0111) cannot be opened: its pages are still unmapped, but
	// they stay cached in their large folios.
	exe, openErr := os.Open("/proc/self/exe")
	if openErr == nil {
		defer exe.Close()
		// The page cache can only drop clean pages, and a binary written
		// moments ago (go build, go run, go test) has dirty ones. An
		// installed binary has none, and this writes nothing; if it
		// fails, the drop skips the dirty pages, and that is all.
		_ = syscall.Fdatasync(int(exe.Fd()))
	}
	// The other threads run on while this one unmaps, and a page one of
	// them reads between the unmapping and the drop maps its large folio
	// back, which the drop then skips; the second round unmaps and drops
	// those, and what is read after it comes back in 4 KiB pages.
	for range 2 {
		for _, m := range maps {
			if err := madvise(m, syscall.MADV_DONTNEED); err != nil {
				return before, 0, err
			}
		}
		if openErr != nil {
			break
		}
		if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, exe.Fd(), 0, 0, fadvDontNeed, 0, 0); errno != 0 {
			return before, 0, fmt.Errorf("posix_fadvise %s DONTNEED: %w", exe.Name(), errno)
		}
	}
	if after, err = residentFile(); err != nil {
		return before, 0, err
	}
	if openErr != nil {
		return before, after, fmt.Errorf("unmapped, but left in the page cache: %w", openErr)
	}
	return before, after, nil
}

// fadvDontNeed is POSIX_FADV_DONTNEED, which package syscall does not
// name. (golang.org/x/sys/unix does, but importing it would initialize
// this package after others whose pages package startup is there to spare.)
const fadvDontNeed = 4

func madvise(m mapping, advice int) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, uintptr(advice)); errno != 0 {
		return fmt.Errorf("madvise %s %x-%x %d: %w", m.perms, m.start, m.end, advice, errno)
	}
	return nil
}
