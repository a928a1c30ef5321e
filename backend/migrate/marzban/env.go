package marzban

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/outpost-panel/outpost/backend/config"
)

// ReadEnvFile reads the switches Outpost shares with Marzban from
// Marzban's .env (the default install's /opt/marzban/.env): the
// USE_CUSTOM_JSON_* variables, all five, each false when the file does not
// set it (as Marzban reads it). A value Marzban would refuse is an error
// naming the line.
func ReadEnvFile(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading Marzban's .env: %w", err)
	}
	defer f.Close()
	vars, err := readDotEnv(f, config.CustomJSONVars)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]bool, len(config.CustomJSONVars))
	for _, name := range config.CustomJSONVars {
		out[name] = false
		v, ok := vars[name]
		if !ok || v.value == "" {
			continue
		}
		b, ok := config.ParseEnvBool(v.value)
		if !ok {
			return nil, fmt.Errorf("%s: line %d: %s=%q is not a boolean (true/false, 1/0, yes/no, on/off)", path, v.line, name, v.value)
		}
		out[name] = b
	}
	return out, nil
}

type envValue struct {
	value string
	line  int
}

// readDotEnv reads the variables named in want from a dotenv file as
// python-dotenv does for the forms Marzban's .env uses: NAME = value,
// optional "export ", whole-line comments, quoted values, and a " #"
// comment after an unquoted value. The last assignment wins.
func readDotEnv(r io.Reader, want []string) (map[string]envValue, error) {
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	out := map[string]envValue{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		if !wanted[name] {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) > 0 && (value[0] == '"' || value[0] == '\'') {
			end := strings.IndexByte(value[1:], value[0])
			if end < 0 {
				return nil, fmt.Errorf("line %d: %s: unterminated quote", n, name)
			}
			value = value[1 : 1+end]
		} else if i := strings.Index(value, " #"); i >= 0 {
			value = strings.TrimSpace(value[:i])
		}
		out[name] = envValue{value: value, line: n}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
