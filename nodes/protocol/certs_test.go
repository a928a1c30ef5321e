package protocol

import (
	"strings"
	"testing"
)

func TestStatusCertsBounds(t *testing.T) {
	ok := Status{Certs: []CertExpiry{{Inbound: "vless-tls", File: "/etc/ssl/a.pem", NotAfter: 1_900_000_000}, {Inbound: "x", File: "/b.pem", Error: "no such file"}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	many := make([]CertExpiry, MaxStatusCerts+1)
	for name, s := range map[string]Status{
		"negative not_after": {Certs: []CertExpiry{{NotAfter: -1}}},
		"past year 9999":     {Certs: []CertExpiry{{NotAfter: MaxUnixTime + 1}}},
		"long file":          {Certs: []CertExpiry{{File: strings.Repeat("a", MaxCertNameBytes+1)}}},
		"long error":         {Certs: []CertExpiry{{Error: strings.Repeat("e", MaxTextBytes+1)}}},
		"too many":           {Certs: many},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
