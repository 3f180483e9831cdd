//go:build !linux

package exepages

import "errors"

// Release is only implemented on Linux, where the adapter runs.
func Release() (before, after uint64, err error) {
	return 0, 0, errors.ErrUnsupported
}
