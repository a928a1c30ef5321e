//go:build !linux

package cli

import (
	"errors"
	"os"
)

// Outside Linux the CLI does not touch terminal modes, so it refuses to read
// a password typed on a terminal (it would echo): a pipe, a flag or the
// environment still work.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func disableEcho(*os.File) (func(), error) {
	return nil, errors.New("not supported on this platform; pass --password, set $" + PasswordEnv + " or pipe the password")
}
