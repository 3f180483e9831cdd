//go:build linux

package exepages

import (
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestReadOnlyMappings(t *testing.T) {
	const maps = `00400000-03455000 r-xp 00000000 fe:00 9995777                            /bin/rtcscale
03455000-06e22000 r--p 03055000 fe:00 9995777                            /bin/rtcscale
06e22000-073df000 rw-p 06a22000 fe:00 9995777                            /bin/rtcscale
073df000-09437000 rw-p 00000000 00:00 0
7f74cc9ad000-7f74ccb03000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f74cd000000-7f74cd001000 r--s 00000000 fe:00 9995777                    /bin/rtcscale
7f74ce000000-7f74ce001000 r-xp 00000000 fe:00 9995778                    /bin/rtcscale (deleted)
`
	got, err := readOnlyMappings(strings.NewReader(maps), "/bin/rtcscale")
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{{0x400000, 0x3455000, "r-xp"}, {0x3455000, 0x6e22000, "r--p"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v: the writable, shared and other files' mappings must be left out", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadOnlyMappingsRefusesMalformedRanges(t *testing.T) {
	for _, r := range []string{"00400000", "zz-03455000", "00400000-zz", "03455000-00400000"} {
		if _, err := readOnlyMappings(strings.NewReader(r+" r-xp 00000000 fe:00 1 /bin/x\n"), "/bin/x"); err == nil {
			t.Errorf("range %q: no error", r)
		}
	}
}

// written lives in the writable data segment, which Release must leave
// alone: unmapping it would bring the file's value back.
var written = 1

func TestReleaseGivesBackExecutablePages(t *testing.T) {
	written = 42
	cachedBefore, _, err := cachedPages()
	if err != nil {
		t.Fatal(err)
	}
	before, after, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	if after >= before {
		t.Errorf("resident file pages %d B before, %d B after: nothing given back", before, after)
	}
	cached, total, err := cachedPages()
	if err != nil {
		t.Fatal(err)
	}
	if cached >= cachedBefore {
		t.Errorf("%d of the executable's %d pages are in the page cache after Release, %d before: none was dropped", cached, total, cachedBefore)
	} else {
		t.Logf("%d of the executable's %d pages are in the page cache after Release, %d before", cached, total, cachedBefore)
	}
	if written != 42 {
		t.Errorf("a variable of the data segment reads %d after Release, want 42", written)
	}
	// The code Release unmapped runs again: its pages come back.
	if _, _, err := Release(); err != nil {
		t.Fatal(err)
	}
}

// cachedPages counts the pages of the running executable in the page cache
// (mincore of a mapping of the whole file, which reads none of it).
func cachedPages() (cached, total int, err error) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Munmap(b)
	vec := make([]byte, (len(b)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		return 0, 0, errno
	}
	for _, v := range vec {
		cached += int(v & 1)
	}
	return cached, len(vec), nil
}

// CachedPages is cachedPages, for startup_test.go.
var CachedPages = cachedPages
