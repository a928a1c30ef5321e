package api

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
)

// readMemInfo returns total and used memory in bytes from /proc/meminfo
// (used = total - available, as psutil computes it for Marzban); zeros
// where /proc is missing.
func readMemInfo() (total, used uint64) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	var avail uint64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemTotal:":
			total = kb * 1024
		case "MemAvailable:":
			avail = kb * 1024
		}
	}
	if avail > total {
		return total, 0
	}
	return total, total - avail
}

// cpuSampler reports CPU use since the previous call (psutil's
// cpu_percent(), which Marzban calls), from /proc/stat's aggregate line.
type cpuSampler struct {
	mu                sync.Mutex
	lastIdle, lastAll uint64
}

var cpuUsage cpuSampler

func readCPUTimes() (idle, all uint64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		all += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, all, true
}

// sample returns percent busy since the last sample (since boot the first
// time), rounded to one decimal.
func (c *cpuSampler) sample() float64 {
	idle, all, ok := readCPUTimes()
	if !ok {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dIdle, dAll := idle-c.lastIdle, all-c.lastAll
	c.lastIdle, c.lastAll = idle, all
	if dAll == 0 || dIdle > dAll {
		return 0
	}
	pct := float64(dAll-dIdle) * 100 / float64(dAll)
	return float64(int64(pct*10+0.5)) / 10
}
