// Package metrics serves a node agent's Prometheus metrics on
// --metrics-listen (off by default). Everything is read from the agent's
// Health at scrape time, so the agent carries no instrumentation of its
// own and a scrape can never slow it down.
package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outpost-panel/outpost/nodes/agent"
)

type healthCollector struct {
	health func() agent.Health
	descs  map[string]*prometheus.Desc
}

func desc(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }

func newHealthCollector(health func() agent.Health) *healthCollector {
	return &healthCollector{health: health, descs: map[string]*prometheus.Desc{
		"connected":      desc("outpost_agent_connected", "1 while the agent has a live session with the panel."),
		"revision":       desc("outpost_agent_applied_revision", "Revision of the state Xray runs (last-known-good)."),
		"users":          desc("outpost_agent_users", "Users in the applied state."),
		"enforced":       desc("outpost_agent_enforced_users", "Users the agent removed on its own (expired or over their limit)."),
		"backlog":        desc("outpost_agent_journal_backlog", "Usage journal entries not yet acknowledged by the panel."),
		"inbound_errors": desc("outpost_agent_inbound_errors", "Inbounds that could not start."),
		"restarts":       desc("outpost_agent_core_restarts_total", "Xray instances started after the first."),
		"snapshots":      desc("outpost_agent_snapshots_applied_total", "Snapshots applied."),
		"deltas":         desc("outpost_agent_deltas_applied_total", "Deltas applied."),
		"moves":          desc("outpost_agent_panel_moves_total", "Sessions a draining panel ended asking the agent to move to another replica."),
	}}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.health()
	connected := 0.0
	if h.Connected {
		connected = 1
	}
	gauge := func(name string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v)
	}
	counter := func(name string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v)
	}
	gauge("connected", connected)
	gauge("revision", float64(h.AppliedRevision))
	gauge("users", float64(h.Users))
	gauge("enforced", float64(h.EnforcedUsers))
	gauge("backlog", float64(h.JournalBacklog))
	gauge("inbound_errors", float64(len(h.InboundErrors)))
	counter("restarts", float64(h.CoreRestarts))
	counter("snapshots", float64(h.Snapshots))
	counter("deltas", float64(h.Deltas))
	counter("moves", float64(h.PanelMoves))
}

// Registry is the agent's metrics, the Go runtime's and the process's.
func Registry(health func() agent.Health) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newHealthCollector(health))
	return reg
}

// Listen serves GET /metrics on addr until ctx ends and returns the address.
func Listen(ctx context.Context, addr string, health func() agent.Health) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	reg := Registry(health)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), nil
}
