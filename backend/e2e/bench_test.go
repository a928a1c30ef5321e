package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/xraycore/xraytest"
)

// The performance targets, measured with real panel and node
// processes, real SQLite and real Xray traffic. They report numbers and
// assert no wall-clock limit: the targets and the last measured numbers are
// in docs/benchmarks.md. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./backend/e2e
//
// Each benchmark seeds and starts its fixtures once (b.Loop calls the
// function once), so -benchtime Nx repeats only the measured scenario.

const benchUsers = 100_000

// BenchmarkSnapshot100k: a node with an empty state dir joins a panel with
// 100,000 users on four inbounds (each user on all four). Measured from the
// node's process start until the panel has recorded the node's ack of the
// snapshot; the node's memory is read at that moment.
func BenchmarkSnapshot100k(b *testing.B) {
	skipShort(b)
	ports := testPorts(b)
	seed := seedPanel(b, benchUsers, ports)
	p := startBenchPanel(b, seed.dataDir)

	var connected, sent, applied, acked, cpu durations
	var nodeMem procMem
	i := 0
	for b.Loop() {
		b.StopTimer()
		// A new node record per iteration: its applied_revision starts at 0,
		// so the ack we wait for is this iteration's.
		n := p.createNode(b, fmt.Sprintf("snap-%d", i))
		i++
		b.StartTimer()

		nd, started, nodeLog := startBenchNode(b, p.url(), n.Token, b.TempDir())
		hc := newHealthClient(nd)
		appliedAt := pollUntil(b, 120*time.Second, 5*time.Millisecond, "node to apply the snapshot", func() bool {
			h, err := hc.get()
			return err == nil && h.AppliedRevision == p.revision && h.Users == seed.users
		})
		ackedAt := pollUntil(b, 60*time.Second, 5*time.Millisecond, "panel to record the ack", func() bool {
			return p.node(b, n.ID).AppliedRevision == p.revision
		})

		b.StopTimer()
		m := nd.mem(b)
		nodeMem.rss, nodeMem.hwm = max(nodeMem.rss, m.rss), max(nodeMem.hwm, m.hwm)
		cpu = append(cpu, nd.cpu(b))
		applied = append(applied, appliedAt.Sub(started))
		acked = append(acked, ackedAt.Sub(started))
		if d, ok := sinceStart(nodeLog, "connected to panel", started, false); ok {
			connected = append(connected, d)
		}
		if d, ok := sinceStart(p.logPath, "snapshot sent", started, true); ok {
			sent = append(sent, d)
		}
		b.Logf("iteration %d: connected %s, snapshot queued %s, applied %s, acked %s after node start; node CPU %s, RSS %d MiB, peak %d MiB",
			i, connected.last(), sent.last(), appliedAt.Sub(started).Round(time.Millisecond), ackedAt.Sub(started).Round(time.Millisecond),
			cpu.last(), m.rss/mib, m.hwm/mib)
		hc.close()
		nd.stop()
		b.StartTimer()
	}
	pm := p.mem(b)
	b.ReportMetric(float64(acked.mean()), "ns/op")
	b.ReportMetric(ms(acked.mean()), "ack-ms")
	b.ReportMetric(ms(acked.percentile(100)), "ack-max-ms")
	b.ReportMetric(ms(applied.mean()), "applied-ms")
	b.ReportMetric(ms(connected.mean()), "connected-ms")
	b.ReportMetric(ms(sent.mean()), "sent-ms")
	b.ReportMetric(ms(cpu.mean()), "node-cpu-ms")
	b.ReportMetric(float64(nodeMem.rss)/mib, "node-rss-MiB")
	b.ReportMetric(float64(nodeMem.hwm)/mib, "node-peak-MiB")
	b.ReportMetric(float64(pm.hwm)/mib, "panel-peak-MiB")
}

// BenchmarkCreateAck1k: 1,000 users created one by one through the API
// while a node is connected; per user, the time from the API's answer until
// the node's /healthz shows the new revision applied (polled every
// millisecond, so the numbers carry up to ~1 ms of polling). Run on an empty
// panel and on one already holding 100,000 users.
func BenchmarkCreateAck1k(b *testing.B) {
	skipShort(b)
	for _, base := range []int{0, benchUsers} {
		b.Run(fmt.Sprintf("users=%d", base), func(b *testing.B) { benchCreateAck(b, base) })
	}
}

func benchCreateAck(b *testing.B, base int) {
	const creates = 1000
	ports := testPorts(b)
	seed := seedPanel(b, base, ports)
	p := startBenchPanel(b, seed.dataDir)
	n := p.createNode(b, "edge-ack")
	nd, _, _ := startBenchNode(b, p.url(), n.Token, b.TempDir())
	hc := newHealthClient(nd)
	defer hc.close()
	var h nodeHealth
	pollUntil(b, 120*time.Second, 20*time.Millisecond, "node to connect and apply the snapshot", func() bool {
		var err error
		h, err = hc.get()
		return err == nil && h.Connected && h.AppliedRevision == p.revision && h.Users == base
	})

	var ack, api durations
	iter := 0
	for b.Loop() {
		for i := range creates {
			before := h
			sent := time.Now()
			p.createUser(b, fmt.Sprintf("ack_%d_%04d", iter, i), nil)
			answered := time.Now()
			api = append(api, answered.Sub(sent))
			// The new user is one more user and at least one more revision;
			// nothing else changes users while this runs.
			for {
				var err error
				if h, err = hc.get(); err != nil {
					b.Fatalf("node health: %v", err)
				}
				if h.AppliedRevision > before.AppliedRevision && h.Users == before.Users+1 {
					break
				}
				if time.Since(answered) > 30*time.Second {
					b.Fatalf("user %d not applied by the node 30 s after the API answered (node at revision %d, %d users)", i, h.AppliedRevision, h.Users)
				}
				time.Sleep(time.Millisecond)
			}
			ack = append(ack, time.Since(answered))
		}
		iter++
	}
	b.Logf("%d users created on top of %d: ack p50 %s p90 %s p99 %s max %s; API p50 %s p99 %s",
		len(ack), base, ack.percentile(50), ack.percentile(90), ack.percentile(99), ack.percentile(100),
		api.percentile(50), api.percentile(99))
	b.ReportMetric(ms(ack.percentile(50)), "ack-p50-ms")
	b.ReportMetric(ms(ack.percentile(90)), "ack-p90-ms")
	b.ReportMetric(ms(ack.percentile(99)), "ack-p99-ms")
	b.ReportMetric(ms(ack.percentile(100)), "ack-max-ms")
	b.ReportMetric(ms(api.percentile(50)), "api-p50-ms")
	b.ReportMetric(ms(api.percentile(99)), "api-p99-ms")
}

// BenchmarkNodeRestart100k: a node holding 100,000 users in its
// last-known-good state restarts while the panel is down. Measured from the
// node's process start until a real Xray client gets a round trip through
// the vless inbound as one of the seeded users.
func BenchmarkNodeRestart100k(b *testing.B) {
	skipShort(b)
	ports := testPorts(b)
	seed := seedPanel(b, benchUsers, ports)
	p := startBenchPanel(b, seed.dataDir)
	n := p.createNode(b, "edge-restart")
	stateDir := b.TempDir()
	nd, _, _ := startBenchNode(b, p.url(), n.Token, stateDir)
	pollUntil(b, 120*time.Second, 20*time.Millisecond, "panel to record the node's ack of the snapshot", func() bool {
		return p.node(b, n.ID).AppliedRevision == p.revision
	})
	user := p.user(b, benchUserName(benchUsers/2))
	nd.stop()
	p.stop()

	echo := xraytest.StartEcho(b)
	socks := client(b, user, "vless", ports[xraytest.TagVLESS], nil)
	msg := xraytest.Payload(1024)

	vlessAddr := fmt.Sprintf("127.0.0.1:%d", ports[xraytest.TagVLESS])
	var listening, serving, fromDisk, cpu durations
	var nodeMem procMem
	for b.Loop() {
		nd, started, nodeLog := startBenchNode(b, p.url(), n.Token, stateDir)
		// A plain TCP probe finds the moment the inbound listens; only then
		// does the Xray client try, because its vless outbound retries a
		// refused dial with backoff (200 ms, 400 ms...), which would round
		// the measurement up by as much.
		listeningAt := pollUntil(b, 120*time.Second, 5*time.Millisecond, "the vless inbound to listen", func() bool {
			c, err := net.DialTimeout("tcp", vlessAddr, 100*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		servedAt := pollUntil(b, 30*time.Second, 5*time.Millisecond, "a round trip through the restarted node", func() bool {
			return xraytest.RoundTripWithin(socks, echo, msg, 2*time.Second) == nil
		})
		b.StopTimer()
		listening = append(listening, listeningAt.Sub(started))
		serving = append(serving, servedAt.Sub(started))
		if d, ok := sinceStart(nodeLog, "xray started from last-known-good state", started, false); ok {
			fromDisk = append(fromDisk, d)
		}
		m := nd.mem(b)
		nodeMem.rss, nodeMem.hwm = max(nodeMem.rss, m.rss), max(nodeMem.hwm, m.hwm)
		cpu = append(cpu, nd.cpu(b))
		b.Logf("restart: xray started from disk %s, vless listening %s, first round trip %s after node start; node CPU %s, RSS %d MiB, peak %d MiB",
			fromDisk.last(), listening.last(), serving.last(), cpu.last(), m.rss/mib, m.hwm/mib)
		nd.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(serving.mean()), "ns/op")
	b.ReportMetric(ms(serving.mean()), "serving-ms")
	b.ReportMetric(ms(serving.percentile(100)), "serving-max-ms")
	b.ReportMetric(ms(listening.mean()), "listening-ms")
	b.ReportMetric(ms(fromDisk.mean()), "xray-started-ms")
	b.ReportMetric(ms(cpu.mean()), "node-cpu-ms")
	b.ReportMetric(float64(nodeMem.rss)/mib, "node-rss-MiB")
	b.ReportMetric(float64(nodeMem.hwm)/mib, "node-peak-MiB")
}
