// Package singbox holds no code: its test feeds the panel's sing-box
// subscription output to sing-box's own option parser and box.New. It is a
// separate Go module because sing-box's dependency graph conflicts with
// xray-core's (both pin forks of quic-go, utls and gvisor).
//
//	cd backend/sub/clientcheck/singbox && go test -tags with_utls,with_quic ./...
package singbox
