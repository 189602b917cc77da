package federation

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-network/vigil/node/bench"
	"github.com/vigil-network/vigil/node/testnet"
)

func procMem(pid int) (ProcMem, error) {
	var m ProcMem
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseFloat(f[0], 64)
		switch k {
		case "VmRSS":
			m.RSS = n / 1024
		case "RssAnon":
			m.Anon = n / 1024
		case "RssFile":
			m.File = n / 1024
		case "Threads":
			m.Threads = int(n)
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					n, _ := strconv.ParseFloat(f[0], 64)
					m.PSS = n / 1024
				}
			}
		}
	}
	return m, nil
}

// cpuTicks is utime+stime of a process in clock ticks.
func cpuTicks(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st, true
}

// cpuCores is the CPU the processes used over window, in cores (Linux
// reports ticks of 1/100 s to user space).
func cpuCores(pids []int, window time.Duration) float64 {
	before := map[int]int64{}
	for _, p := range pids {
		if t, ok := cpuTicks(p); ok {
			before[p] = t
		}
	}
	t0 := time.Now()
	time.Sleep(window)
	var sum int64
	for p, b := range before {
		if t, ok := cpuTicks(p); ok {
			sum += t - b
		}
	}
	return float64(sum) / 100 / time.Since(t0).Seconds()
}

func memAvailable() float64 { // MiB
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			n, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return n / 1024
		}
	}
	return 0
}

// machineInfo fills in the report's machine: node/bench's description of
// it, and what a federation of processes depends on besides (memory,
// kernel, open-file limit, the nodes' environment).
func machineInfo(rep *Report) {
	bm := bench.ThisMachine()
	m := &rep.Machine
	m.CPU, m.CPUs, m.Go, m.LoadStart = bm.CPUModel, bm.CPUs, bm.GoVersion, bm.LoadAvgStart
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		m.FDLimit = int(l.Max)
	}
	m.ChildEnv = strings.Join(testnet.EffectiveChildEnv(), " ")
	m.StartedAt = time.Now().UTC().Format(time.RFC3339)
}
