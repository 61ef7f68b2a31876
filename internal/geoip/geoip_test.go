package geoip_test

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/geoip"
	"github.com/vigil-sec/vigil/internal/geoip/geoiptest"
)

var testNets = []geoiptest.Network{
	{CIDR: "198.51.100.0/24", ASN: 64500, Org: "Example Transit", Country: "US"},
	{CIDR: "203.0.113.0/25", ASN: 64501, Country: "DE"},
	{CIDR: "2001:db8::/32", ASN: 64502, Country: "JP"},
}

func TestLookup(t *testing.T) {
	path := geoiptest.Write(t, t.TempDir(), "GeoLite2-Test", testNets)
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.HasASN() || !db.HasCountry() {
		t.Errorf("HasASN, HasCountry = %v, %v, want both", db.HasASN(), db.HasCountry())
	}
	if db.Type() != "GeoLite2-Test" {
		t.Errorf("Type = %q", db.Type())
	}
	tests := []struct {
		ip           string
		asn, country string
	}{
		{"198.51.100.7", "AS64500", "US"},
		{"::ffff:198.51.100.7", "AS64500", "US"},
		{"203.0.113.1", "AS64501", "DE"},
		{"203.0.113.200", "", ""}, // outside the /25
		{"2001:db8::1", "AS64502", "JP"},
		{"192.0.2.1", "", ""},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		asn, ok := db.ASN(ip)
		if asn != tt.asn || ok != (tt.asn != "") {
			t.Errorf("ASN(%s) = %q, %v, want %q", tt.ip, asn, ok, tt.asn)
		}
		c, ok := db.Country(ip)
		if c != tt.country || ok != (tt.country != "") {
			t.Errorf("Country(%s) = %q, %v, want %q", tt.ip, c, ok, tt.country)
		}
	}
	if _, ok := db.ASN(netip.Addr{}); ok {
		t.Error("ASN of the zero address found something")
	}
}

// TestProvides checks that a database is described by the fields it holds:
// an ASN-only database has no countries, and one with neither is refused.
func TestProvides(t *testing.T) {
	dir := t.TempDir()
	asnOnly, err := geoip.Open(geoiptest.Write(t, dir, "GeoLite2-ASN", []geoiptest.Network{{CIDR: "198.51.100.0/24", ASN: 64500}}))
	if err != nil {
		t.Fatal(err)
	}
	if !asnOnly.HasASN() || asnOnly.HasCountry() {
		t.Errorf("ASN database: HasASN, HasCountry = %v, %v", asnOnly.HasASN(), asnOnly.HasCountry())
	}
	if c, ok := asnOnly.Country(netip.MustParseAddr("198.51.100.1")); ok {
		t.Errorf("ASN database gave country %q", c)
	}
	country, err := geoip.Open(geoiptest.Write(t, dir, "GeoLite2-Country", []geoiptest.Network{{CIDR: "198.51.100.0/24", Country: "FR"}}))
	if err != nil {
		t.Fatal(err)
	}
	if country.HasASN() || !country.HasCountry() {
		t.Errorf("Country database: HasASN, HasCountry = %v, %v", country.HasASN(), country.HasCountry())
	}
	empty := geoiptest.Bytes(t, "Empty", []geoiptest.Network{{CIDR: "198.51.100.0/24", Org: "no number"}})
	if _, err := geoip.OpenBytes(empty, "empty.mmdb"); err == nil || !strings.Contains(err.Error(), "neither autonomous system numbers nor country codes") {
		t.Errorf("database without ASN or country: err = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := geoiptest.Bytes(t, "GeoLite2-Test", testNets)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing", filepath.Join(dir, "nope.mmdb"), "no such file"},
		{"empty", write("empty.mmdb", nil), "empty"},
		{"not a database", write("text.mmdb", []byte("hello, world\n")), "invalid MaxMind DB"},
		{"truncated", write("trunc.mmdb", good[len(good)/3:]), "geoip database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := geoip.Open(tt.path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("err = %v, want it to name %s and say %q", err, tt.path, tt.want)
			}
		})
	}
}

// FuzzOpenBytes opens arbitrary bytes: never a panic, and a database that
// opens answers lookups.
func FuzzOpenBytes(f *testing.F) {
	good := geoiptest.Bytes(f, "GeoLite2-Test", testNets)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[len(good)/2:])
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := geoip.OpenBytes(data, "fuzz.mmdb")
		if err != nil {
			return
		}
		for _, s := range []string{"198.51.100.7", "203.0.113.1", "2001:db8::1", "0.0.0.0"} {
			db.ASN(netip.MustParseAddr(s))
			db.Country(netip.MustParseAddr(s))
		}
	})
}

var update = flag.Bool("update", false, "rewrite the seed corpus")

// TestFuzzSeed keeps a small database in the seed corpus of FuzzOpenBytes
// (go test -update rewrites it) and checks that it opens.
func TestFuzzSeed(t *testing.T) {
	path := filepath.Join("testdata", "fuzz", "FuzzOpenBytes", "small")
	if *update {
		data := geoiptest.Bytes(t, "GeoLite2-Seed", testNets[:2])
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("go test fuzz v1\n[]byte("+strconv.Quote(string(data))+")\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(string(raw), "go test fuzz v1\n[]byte("), ")\n")
	data, err := strconv.Unquote(body)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.OpenBytes([]byte(data), path)
	if err != nil {
		t.Fatal(err)
	}
	if asn, _ := db.ASN(netip.MustParseAddr("203.0.113.1")); asn != "AS64501" {
		t.Errorf("seed database: ASN = %q", asn)
	}
}
