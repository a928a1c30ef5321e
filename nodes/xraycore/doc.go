// Package xraycore embeds Xray-core (github.com/xtls/xray-core, as a Go
// library, no external binary) in the node agent and keeps it running the
// desired config and users while disturbing as few connections as possible.
//
// # How a config is run
//
// Apply validates the whole config with Xray's own JSON loader and builder
// first (see Validate); a config that does not build changes nothing. The
// engine always adds "stats": {} and policy level 0 statsUserUplink /
// statsUserDownlink (the rest of the admin's policy is kept), so Xray counts
// traffic per user as user>>>EMAIL>>>traffic>>>uplink|downlink.
//
// The core instance is built from the config without its inbounds. Every
// inbound is then created and added on its own through the instance's
// inbound manager. Two reasons: one inbound that cannot start (its port is
// taken by another process, say) must not keep the others from serving, as
// it would if Xray started them all at once; and an inbound can then be
// replaced alone later. A failed inbound is reported by tag in
// InboundErrors with Xray's message ("... address already in use") and is
// retried on the next Apply.
//
// Every inbound must have a unique tag: the engine compares and reports
// inbounds by tag.
//
// # What restarts and what does not
//
//   - Users added, changed or removed (Apply's user diff, UpsertUsers,
//     RemoveUsers): never a restart, never a rebuilt handler. Users go in and
//     out through each inbound's proxy.UserManager; everyone else's open
//     connections are untouched. A user is in an inbound when the inbound is
//     vless, vmess, trojan or shadowsocks, the user has credentials for that
//     protocol, and the tag is not in the user's Excluded list.
//   - An inbound whose canonical JSON changed: only that handler is replaced
//     (new handler built and filled with users first, then swapped). Its own
//     listener is reopened; every other inbound is untouched. New inbounds are
//     added, removed ones removed.
//   - Anything outside "inbounds" changed (outbounds, routing, dns, policy,
//     log...): a new core instance is started, then the old one is closed
//     and every inbound is rebuilt in the new one. Every listener closes and
//     reopens, and whatever the old core held (DNS cache, mux sessions,
//     observatory state) is gone, so this happens only when those sections
//     really change (compared as canonical JSON: key order and whitespace do
//     not count). Treat it as dropping connections. In practice Xray does not
//     cut plain proxied TCP connections of a closed core: they run on with
//     the old routing until they end, and the engine keeps reading the old
//     core's counters (until they have been still for an hour), so their
//     traffic is not lost either.
//   - An identical Apply (same config, same users) does nothing.
//   - An identity removed (or whose credentials changed) loses its open
//     connections: the engine closes them (cut.go), since Xray's user
//     managers only refuse new ones. Nobody else's connection is touched.
//
// # Users and protocols
//
// VLESS users get encryption "none"; their flow (xtls-rprx-vision) is kept
// only on inbounds that can carry it (raw/tcp with tls or reality) and
// dropped elsewhere. Shadowsocks inbounds take classic AEAD methods per user
// (aes-128-gcm, aes-256-gcm, chacha20-ietf-poly1305, xchacha20-poly1305).
// A Shadowsocks 2022 inbound with a "clients" array (even empty) and a
// 2022-blake3-aes-*-gcm method runs as a multi-user inbound; each user's key
// is SS2022UserKey(method, password). Its users are put into the handler's
// config when it is built, because Xray's AddUser for that inbound re-keys
// every user on each call (O(users) per add): single adds use AddUser, a
// batch of more than 64 adds rebuilds that one handler instead. A user Xray
// refuses (bad UUID, unknown cipher) is logged and skipped; the others are
// not affected.
//
// # Credentials per device
//
// The engine's API takes users; Xray runs identities. A user with
// PerDevice runs as one identity per device (protocol.User.Identities:
// email "<email>#<device id>", credentials derived from the user's), never
// under its own credentials. The engine remembers which identities each
// such user has (only for those users, so 100,000 users without devices
// cost nothing extra), so UpsertUsers of a user with fewer devices removes
// the dropped identities, RemoveUsers of the user's email removes them all,
// and an Apply that brings the user unchanged reuses the identities it
// runs instead of deriving them again. CollectUsage and CollectOnline name
// identities; UserCount counts them.
//
// # Usage
//
// CollectUsage walks Xray's counters once per call and swaps each to zero
// with Counter.Set(0), an atomic exchange, so bytes counted between the read
// and the reset belong to the next call instead of being lost. It never
// waits for an Apply beyond the moment instances are swapped.
//
// # Costs worth knowing (Xray's, not the engine's)
//
// Adding a user is O(1) for every protocol except Shadowsocks 2022.
// Removing one is O(users of that inbound) for vmess and shadowsocks (Xray
// scans a slice). A classic Shadowsocks inbound tries every user's key on
// each new connection, and VMess tries every user's auth ID decoder, so
// handshakes on those inbounds slow down linearly with users; VLESS and
// Trojan look users up by key.
//
// # Limits
//
// A restart starts the new core before closing the old one, so anything
// the core itself listens on outside inbounds ("api": {"listen": ...}) is
// still held by the old core and the new one fails to start: Apply returns
// the error and the old core keeps serving. Expose the API through an
// inbound and a routing rule instead, as Marzban does. Validate builds the
// config but does not create a core (that would disturb the running one's
// process-wide state); the few errors that only core creation finds (a
// duplicate outbound tag, a log file in a missing directory) are returned
// by Apply, wrapping ErrInvalidConfig, with nothing changed. Check, for the
// panel, which runs no core, finds those too: it creates the core without
// starting it or opening its log files, and throws it away.
//
// Xray keeps a few process-wide settings (the log handler, the system
// dialer's DNS) pointing at the most recently created instance; the engine
// restores the dialer when it discards a new instance, and a second
// in-process instance (a test client) only affects them for dialerProxy
// and domainStrategy outbounds.
package xraycore
