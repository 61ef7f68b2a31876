// Package geoiptest writes small MaxMind-format databases for tests.
package geoiptest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is what a test database says about one network.
type Network struct {
	CIDR    string // e.g. "203.0.113.0/24"
	ASN     uint32 // 0 leaves autonomous_system_number out
	Org     string // autonomous_system_organization, if any
	Country string // country.iso_code, if any
}

// Bytes builds a database of the given type ("GeoLite2-ASN",
// "GeoLite2-Country", or anything) holding nets. Reserved and documentation
// ranges are allowed, so tests can use 192.0.2.0/24 and friends.
func Bytes(t testing.TB, dbType string, nets []Network) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{}
		if n.ASN != 0 {
			rec["autonomous_system_number"] = mmdbtype.Uint32(n.ASN)
		}
		if n.Org != "" {
			rec["autonomous_system_organization"] = mmdbtype.String(n.Org)
		}
		if n.Country != "" {
			rec["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)}
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Write writes the database Bytes builds to a file in dir and returns its
// path.
func Write(t testing.TB, dir, dbType string, nets []Network) string {
	t.Helper()
	path := filepath.Join(dir, dbType+".mmdb")
	if err := os.WriteFile(path, Bytes(t, dbType, nets), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
