package xrayconf

import (
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// The raw* types mirror the parts of Xray's infra/conf stream settings that
// links need. encoding/json matches keys case-insensitively, as Xray does.
type rawStream struct {
	Network             string        `json:"network"`
	Security            string        `json:"security"`
	TLSSettings         *rawTLS       `json:"tlsSettings"`
	RealitySettings     *rawReality   `json:"realitySettings"`
	RawSettings         *rawTCP       `json:"rawSettings"`
	TCPSettings         *rawTCP       `json:"tcpSettings"`
	WSSettings          *rawWS        `json:"wsSettings"`
	HTTPUpgradeSettings *rawWS        `json:"httpupgradeSettings"`
	XHTTPSettings       *rawXHTTP     `json:"xhttpSettings"`
	SplitHTTPSettings   *rawXHTTP     `json:"splithttpSettings"`
	GRPCSettings        *rawGRPC      `json:"grpcSettings"`
	KCPSettings         *rawKCP       `json:"kcpSettings"`
	FinalMask           *rawFinalMask `json:"finalmask"`
}

type rawTLS struct {
	ServerName           string     `json:"serverName"`
	ALPN                 stringList `json:"alpn"`
	Fingerprint          string     `json:"fingerprint"`
	AllowInsecure        bool       `json:"allowInsecure"`
	PinnedPeerCertSha256 string     `json:"pinnedPeerCertSha256"`
	VerifyPeerCertByName string     `json:"verifyPeerCertByName"`
	Certificates         []struct {
		Certificate stringList `json:"certificate"`
	} `json:"certificates"`
}

type rawReality struct {
	PrivateKey  string   `json:"privateKey"`
	ServerNames []string `json:"serverNames"`
	ShortIDs    []string `json:"shortIds"`
	SpiderX     string   `json:"spiderX"`
	Fingerprint string   `json:"fingerprint"`
	Mldsa65Seed string   `json:"mldsa65Seed"`
}

type rawTCP struct {
	Header *struct {
		Type    string `json:"type"`
		Request *struct {
			Path    stringList            `json:"path"`
			Headers map[string]stringList `json:"headers"`
		} `json:"request"`
	} `json:"header"`
}

type rawWS struct {
	Path    string            `json:"path"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
}

type rawXHTTP struct {
	Path string `json:"path"`
	Host string `json:"host"`
	Mode string `json:"mode"`
}

type rawGRPC struct {
	ServiceName string `json:"serviceName"`
	Authority   string `json:"authority"`
	MultiMode   bool   `json:"multiMode"`
}

type rawKCP struct {
	Seed   string `json:"seed"`
	Header *struct {
		Type string `json:"type"`
	} `json:"header"`
}

type rawFinalMask struct {
	UDP []struct {
		Type     string          `json:"type"`
		Settings json.RawMessage `json:"settings"`
	} `json:"udp"`
}

// kcpHeaderNames maps Xray 26's finalmask UDP header masks to the legacy mKCP
// header names share links carry in headerType.
var kcpHeaderNames = map[string]string{
	"header-dns":       "dns",
	"header-dtls":      "dtls",
	"header-srtp":      "srtp",
	"header-utp":       "utp",
	"header-wechat":    "wechat-video",
	"header-wireguard": "wireguard",
}

func normalizeNetwork(n string) string {
	switch n = strings.ToLower(n); n {
	case "", "raw", "tcp":
		return NetTCP
	case "websocket", "ws":
		return NetWS
	case "splithttp", "xhttp":
		return NetXHTTP
	case "mkcp", "kcp":
		return NetKCP
	}
	return n
}

func (in *Inbound) readStream(s *rawStream) {
	if s == nil {
		s = &rawStream{}
	}
	in.Network = normalizeNetwork(s.Network)
	switch sec := strings.ToLower(s.Security); sec {
	case "", SecurityNone:
		in.Security = SecurityNone
	default:
		in.Security = sec
	}

	switch in.Network {
	case NetTCP:
		tcp := s.TCPSettings
		if s.RawSettings != nil {
			tcp = s.RawSettings // Xray lets rawSettings win over tcpSettings
		}
		in.HeaderType = "none"
		if tcp != nil && tcp.Header != nil && strings.EqualFold(tcp.Header.Type, "http") {
			in.HeaderType = "http"
			if req := tcp.Header.Request; req != nil {
				in.Path = strings.Join(req.Path, ",")
				for k, v := range req.Headers {
					if strings.EqualFold(k, "host") {
						in.Host = strings.Join(v, ",")
					}
				}
			}
		}
	case NetWS, NetHTTPUpgrade:
		ws := s.WSSettings
		if in.Network == NetHTTPUpgrade {
			ws = s.HTTPUpgradeSettings
		}
		if ws != nil {
			in.Path, in.Host = ws.Path, ws.Host
			for k, v := range ws.Headers {
				if in.Host == "" && strings.EqualFold(k, "host") {
					in.Host = v // the deprecated place, still honoured by Xray
				}
			}
		}
	case NetXHTTP:
		x := s.SplitHTTPSettings
		if s.XHTTPSettings != nil {
			x = s.XHTTPSettings
		}
		if x != nil {
			in.Path, in.Host, in.Mode = x.Path, x.Host, x.Mode
		}
	case NetGRPC:
		if g := s.GRPCSettings; g != nil {
			in.ServiceName, in.Authority, in.MultiMode = g.ServiceName, g.Authority, g.MultiMode
		}
	case NetKCP:
		in.readKCP(s)
	}

	switch in.Security {
	case SecurityTLS:
		if s.TLSSettings != nil {
			in.readTLS(s.TLSSettings)
		}
	case SecurityReality:
		if s.RealitySettings != nil {
			in.readReality(s.RealitySettings)
		}
	}
}

func (in *Inbound) readKCP(s *rawStream) {
	in.HeaderType = "none"
	if k := s.KCPSettings; k != nil {
		// Pre-26 fields: Xray 26 refuses them, but reading them keeps links
		// right for a config written for an older core.
		in.Seed = k.Seed
		if k.Header != nil && k.Header.Type != "" {
			in.HeaderType = k.Header.Type
		}
	}
	if s.FinalMask == nil {
		return
	}
	for _, m := range s.FinalMask.UDP {
		t := strings.ToLower(m.Type)
		if name, ok := kcpHeaderNames[t]; ok {
			in.HeaderType = name
			continue
		}
		if t == "mkcp-aes128gcm" && len(m.Settings) > 0 {
			var p struct {
				Password string `json:"password"`
			}
			if json.Unmarshal(m.Settings, &p) == nil {
				in.Seed = p.Password
			}
		}
	}
}

func (in *Inbound) readTLS(t *rawTLS) {
	in.ALPN = nonEmpty(t.ALPN)
	in.Fingerprint = t.Fingerprint
	in.AllowInsecure = t.AllowInsecure
	in.PinnedPeerCertSHA256 = t.PinnedPeerCertSha256
	in.VerifyPeerCertByName = t.VerifyPeerCertByName
	if t.ServerName != "" {
		in.SNI = []string{t.ServerName}
	}
	for _, c := range t.Certificates {
		leaf := parseLeaf(strings.Join(c.Certificate, "\n"))
		if leaf == nil {
			continue
		}
		in.CertificatesNotAfter = append(in.CertificatesNotAfter, leaf.NotAfter.UTC())
		if t.ServerName == "" {
			for _, name := range leaf.DNSNames {
				if !strings.HasPrefix(name, "*") {
					in.SNI = append(in.SNI, name)
				}
			}
		}
		if in.PinnedPeerCertSHA256 == "" && selfSigned(leaf) {
			sum := sha256.Sum256(leaf.Raw)
			in.PinnedPeerCertSHA256 = hex.EncodeToString(sum[:])
		}
	}
}

func parseLeaf(pemText string) *x509.Certificate {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return cert
}

func selfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

func (in *Inbound) readReality(r *rawReality) {
	in.ServerNames = nonEmpty(r.ServerNames)
	in.ShortIDs = r.ShortIDs
	in.SpiderX = r.SpiderX
	in.Fingerprint = r.Fingerprint
	in.PublicKey = RealityPublicKey(r.PrivateKey)
	in.Mldsa65Verify = mldsa65Verify(r.Mldsa65Seed)
}

// RealityPublicKey derives the X25519 public key clients need from a REALITY
// private key, both in Xray's encoding (base64 URL, no padding). It returns ""
// for a key Xray would refuse.
func RealityPublicKey(privateKey string) string {
	raw, err := base64.RawURLEncoding.DecodeString(privateKey)
	if err != nil || len(raw) != 32 {
		return ""
	}
	// ecdh clamps the scalar itself, as Xray's x25519 command does by hand.
	priv, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())
}

func mldsa65Verify(seed string) string {
	raw, err := base64.RawURLEncoding.DecodeString(seed)
	if err != nil || len(raw) != mldsa65.SeedSize {
		return ""
	}
	var s [mldsa65.SeedSize]byte
	copy(s[:], raw)
	pub, _ := mldsa65.NewKeyFromSeed(&s)
	b, err := pub.MarshalBinary()
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
