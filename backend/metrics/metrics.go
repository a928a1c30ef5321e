// Package metrics is the panel's Prometheus instrumentation: one registry,
// the collectors the hub, the jobs and the HTTP API feed, and the handler
// served on --metrics-listen (off by default, on its own address so it is
// never exposed next to the API by accident).
//
// Cardinality is bounded by design: HTTP latency is labelled by Fiber's
// route template (never the raw URL), per-node series by node id (one per
// node the operator created), and nothing by user.
package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds every panel metric, the Go runtime's and the process's.
var Registry = prometheus.NewRegistry()

var (
	// NodeSessions is how many node sessions this replica holds now.
	NodeSessions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outpost_node_sessions", Help: "Node sessions this replica holds now.",
	})
	// NodeSessionsOpened counts sessions that started (after the token check).
	NodeSessionsOpened = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outpost_node_sessions_opened_total", Help: "Node sessions opened on this replica.",
	})
	// NodeSessionsClosed counts ended sessions by who ended them: "panel"
	// (fence, protocol error, read deadline, write failure) or "node"
	// (the connection closed from the node's side).
	NodeSessionsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outpost_node_sessions_closed_total", Help: "Node sessions ended, by the side that ended them.",
	}, []string{"by"})
	// SnapshotsSent and DeltasSent count state messages (a chunked
	// snapshot counts once).
	SnapshotsSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outpost_node_snapshots_sent_total", Help: "Full snapshots sent to nodes.",
	})
	DeltasSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outpost_node_deltas_sent_total", Help: "Deltas sent to nodes.",
	})
	// SnapshotEncodes counts snapshots encoded: once per revision that a
	// node needed whole, however many nodes it was written to.
	SnapshotEncodes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outpost_node_snapshot_encodes_total", Help: "Snapshots encoded (once per revision, shared by every session that needs it).",
	})
	// DeltaEncodes counts deltas built and encoded: once per (from, to)
	// pair, shared by every session whose node was at from.
	DeltaEncodes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outpost_node_delta_encodes_total", Help: "Deltas built and encoded (once per from..to pair, shared by every session that needs it).",
	})
	// SnapshotWriting and SnapshotQueued are the sessions being written a
	// snapshot (at most --snapshot-writers) and those waiting their turn.
	SnapshotWriting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outpost_node_snapshots_writing", Help: "Node sessions being written a snapshot now.",
	})
	SnapshotQueued = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outpost_node_snapshots_queued", Help: "Node sessions waiting for a snapshot writer.",
	})
	// AckSeconds is from sending a state message to the node's ack.
	AckSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "outpost_node_ack_seconds", Help: "From sending a snapshot or delta to the node's ack.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"kind"})
	// UsageBatches counts node usage batches: "applied" (counted now) or
	// "duplicate" (a resent batch, acknowledged and not counted again).
	UsageBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outpost_node_usage_batches_total", Help: "Usage batches received from nodes, by outcome.",
	}, []string{"result"})
	// JournalBacklog is each connected node's unacknowledged usage journal,
	// as its last status said.
	JournalBacklog = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outpost_node_journal_backlog", Help: "Usage journal entries a node holds unacknowledged (its last status).",
	}, []string{"node"})
	// Leader is 1 while this replica holds the background jobs lease.
	Leader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outpost_replica_leader", Help: "1 while this replica holds the background jobs lease.",
	})
	// HTTPSeconds is API latency by method, route template and status.
	HTTPSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "outpost_http_request_duration_seconds", Help: "HTTP request latency by route template.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route", "code"})
	// RevisionHoldSeconds is how long a committed change held the revision
	// row, from taking the revision to the end of its commit. Changes queue
	// on that row one at a time, so 1/mean is this database's ceiling of
	// changes per second; RevisionHoldStatements is how many statements
	// each ran while holding it (the round trips that set the hold time).
	RevisionHoldSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "outpost_revision_hold_seconds", Help: "Time a change held the revision row (taking the revision to commit).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	RevisionHoldStatements = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "outpost_revision_hold_statements", Help: "Statements a change ran while holding the revision row, its commit included.",
		Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32},
	})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		NodeSessions, NodeSessionsOpened, NodeSessionsClosed, SnapshotsSent, DeltasSent,
		SnapshotEncodes, DeltaEncodes, SnapshotWriting, SnapshotQueued,
		AckSeconds, UsageBatches, JournalBacklog, Leader, HTTPSeconds,
		RevisionHoldSeconds, RevisionHoldStatements,
	)
}

// RegisterDB adds the statistics of one database connection pool
// (go_sql_* with db=<name>): connections open and in use, and the time
// spent waiting for one, which is where requests queue when the pool is
// short.
func RegisterDB(name string, db *sql.DB) error {
	return Registry.Register(collectors.NewDBStatsCollector(db, name))
}

// NodeLabel is the node label value of a node id.
func NodeLabel(id int64) string { return strconv.FormatInt(id, 10) }

// SetLeader records whether this replica holds the jobs lease.
func SetLeader(held bool) {
	if held {
		Leader.Set(1)
	} else {
		Leader.Set(0)
	}
}

// HubSource is what the node hub tells a scrape: its revision, the change
// feed's newest revision, and each of its sessions' acknowledged revision.
type HubSource interface {
	// MetricsSnapshot returns the hub's desired-state revision, the feed's
	// newest revision (ok false when the feed cannot say), and the
	// acknowledged revision of every node with a session here.
	MetricsSnapshot(ctx context.Context) (head, feedLast int64, feedOK bool, applied map[int64]int64)
}

// hubCollector asks the hub at scrape time, so revision lag per node costs
// nothing between scrapes and never outlives a session.
type hubCollector struct {
	src              HubSource
	head, feed, feeL *prometheus.Desc
	lag              *prometheus.Desc
}

// RegisterHub adds the hub's revision, feed lag and per-node revision lag.
func RegisterHub(src HubSource) error {
	return Registry.Register(&hubCollector{
		src:  src,
		head: prometheus.NewDesc("outpost_hub_revision", "Revision of the desired state this replica's hub holds.", nil, nil),
		feed: prometheus.NewDesc("outpost_feed_revision", "Newest revision in the change feed.", nil, nil),
		feeL: prometheus.NewDesc("outpost_feed_lag_revisions", "Revisions in the change feed the hub has not folded in yet.", nil, nil),
		lag:  prometheus.NewDesc("outpost_node_revision_lag", "Revisions a connected node's acknowledged state is behind the hub.", []string{"node"}, nil),
	})
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.head
	ch <- c.feed
	ch <- c.feeL
	ch <- c.lag
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	head, last, ok, applied := c.src.MetricsSnapshot(ctx)
	ch <- prometheus.MustNewConstMetric(c.head, prometheus.GaugeValue, float64(head))
	if ok {
		ch <- prometheus.MustNewConstMetric(c.feed, prometheus.GaugeValue, float64(last))
		ch <- prometheus.MustNewConstMetric(c.feeL, prometheus.GaugeValue, float64(max(0, last-head)))
	}
	for id, rev := range applied {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(max(0, head-rev)), NodeLabel(id))
	}
}

// Handler serves the registry in the Prometheus text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

// Fiber times every request by its route template (c.Route().Path after
// the handlers ran: "/api/user/:username", not the user's name). A request
// no route matched is labelled "unmatched", so scanners cannot grow the
// series. Like Fiber's own logger, it runs the app's error handler itself
// so the status it records is the one the client gets.
func Fiber() fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		if err := c.Next(); err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		route := c.Route().Path
		code := c.Response().StatusCode()
		if code == fiber.StatusNotFound && (route == "/" || route == "/*" || route == "") {
			route = "unmatched"
		}
		HTTPSeconds.WithLabelValues(c.Method(), route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		return nil
	}
}

// Listen serves /metrics, and Go's profiles under /debug/pprof/, on addr
// until ctx ends and returns the address it listens on (addr may say port
// 0). The profiles sit here, not on the API's listener: this address is
// the operator's own (loopback or a private network) by design.
func Listen(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), nil
}

// AlertSource counts the fleet alerts that fired and have not resolved,
// per rule (every rule present), from the shared alert state.
type AlertSource func(ctx context.Context) (map[string]int, error)

// alertCollector reads the alert state at scrape time, so every replica
// reports the same numbers, not only the jobs leader that evaluates.
type alertCollector struct {
	src    AlertSource
	active *prometheus.Desc
}

// RegisterAlerts adds outpost_alerts_active{rule}.
func RegisterAlerts(src AlertSource) error {
	return Registry.Register(&alertCollector{src: src,
		active: prometheus.NewDesc("outpost_alerts_active", "Fleet alerts that fired and have not resolved, by rule.", []string{"rule"}, nil)})
}

func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.active }

func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.src(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.active, err)
		return
	}
	for rule, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(n), rule)
	}
}
