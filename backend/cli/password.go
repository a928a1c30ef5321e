package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readPassword reads one line from in. On a terminal it prompts on out and
// turns echo off while the password is typed; from a pipe it reads the
// first line silently (scripts: echo "$pw" | panel admin create ...).
func readPassword(in io.Reader, out io.Writer, prompt string) (string, error) {
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(out, prompt)
		restore, err := disableEcho(f)
		if err != nil {
			return "", fmt.Errorf("turning off echo: %w", err)
		}
		line, err := readLine(f)
		restore()
		fmt.Fprintln(out)
		return line, err
	}
	return readLine(in)
}

func readLine(in io.Reader) (string, error) {
	if in == nil {
		return "", errors.New("no password: give --password, set $" + PasswordEnv + " or pipe it on stdin")
	}
	// One byte at a time: a buffered reader could swallow input meant for
	// whatever reads stdin next.
	var (
		b   strings.Builder
		buf [1]byte
	)
	for {
		n, err := in.Read(buf[:])
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		if b.Len() > 4096 {
			return "", errors.New("reading password: line too long")
		}
	}
	pw := strings.TrimSuffix(b.String(), "\r")
	if pw == "" {
		return "", errors.New("no password: give --password, set $" + PasswordEnv + " or pipe it on stdin")
	}
	return pw, nil
}
