// Package geoip tells which autonomous system (ASN) and which country an IP
// address belongs to, from a database in the MaxMind DB format: MaxMind's
// GeoLite2 and GeoIP2 (ASN, ISP, Country, City), DB-IP's lite databases and
// any other file written in that format.
//
// Open reads the database's metadata and its first records, so that a file
// that is not a database, or is cut short, is an error when it is opened,
// and it reports which of the two facts the database carries, so that a
// caller can tell a user that a database configured for countries holds
// none. Every later read is bounded by the reader's own checks: a corrupt
// record gives no answer, never a crash.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/oschwald/maxminddb-golang/v2"
)

// MaxSize bounds the size of a database file that Open accepts: the largest
// commercial databases are a few hundred megabytes.
const MaxSize = 4 << 30

// sampleRecords is how many records Open inspects to learn which fields the
// database carries.
const sampleRecords = 256

// DB is an open database. It is safe for concurrent use.
type DB struct {
	r       *maxminddb.Reader
	name    string
	asn     bool
	country bool
}

// Open opens and verifies the database at path.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w; give the path of a MaxMind-format .mmdb file", path, err)
	}
	db, err := newDB(r, path)
	if err != nil {
		r.Close()
		return nil, err
	}
	return db, nil
}

// OpenBytes opens and verifies a database held in memory; name is used in
// errors. data must not change while the DB is in use.
func OpenBytes(data []byte, name string) (*DB, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("geoip database %s: %d bytes, more than the limit of %d", name, len(data), MaxSize)
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w; give a MaxMind-format .mmdb file", name, err)
	}
	return newDB(r, name)
}

func newDB(r *maxminddb.Reader, name string) (db *DB, err error) {
	defer func() {
		// The reader's own checks guard every access; this keeps a bug in
		// them from taking the process down while a file is vetted.
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("geoip database %s: unreadable: %v", name, p)
		}
	}()
	db = &DB{r: r, name: name}
	n := 0
	for res := range r.Networks() {
		if n >= sampleRecords || (db.asn && db.country) {
			break
		}
		n++
		var rec record
		if err := res.Decode(&rec); err != nil {
			return nil, fmt.Errorf("geoip database %s is corrupt: %w; download it again", name, err)
		}
		db.asn = db.asn || rec.ASN != 0
		db.country = db.country || rec.Country.ISOCode != "" || rec.Registered.ISOCode != ""
	}
	if !db.asn && !db.country {
		return nil, fmt.Errorf("geoip database %s (type %q) has neither autonomous system numbers nor country codes; use an ASN, ISP, Country or City database",
			name, r.Metadata.DatabaseType)
	}
	return db, nil
}

// record holds the fields Vigil reads from a database record.
type record struct {
	ASN     uint32 `maxminddb:"autonomous_system_number"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Registered struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// Type returns the database type its metadata names, such as
// "GeoLite2-ASN".
func (db *DB) Type() string { return db.r.Metadata.DatabaseType }

// HasASN reports whether the database carries autonomous system numbers.
func (db *DB) HasASN() bool { return db.asn }

// HasCountry reports whether the database carries country codes.
func (db *DB) HasCountry() bool { return db.country }

// ASN returns the autonomous system of ip as "AS" and its number
// ("AS64496"), or false when the database has none for ip.
func (db *DB) ASN(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	var n uint32
	if err := db.r.Lookup(ip.Unmap()).DecodePath(&n, "autonomous_system_number"); err != nil || n == 0 {
		return "", false
	}
	return "AS" + strconv.FormatUint(uint64(n), 10), true
}

// Country returns the ISO 3166-1 code of the country ip is in, or, when
// the database does not place it, of the country it is registered in; false
// when the database has neither.
func (db *DB) Country(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	res := db.r.Lookup(ip.Unmap())
	var code string
	if err := res.DecodePath(&code, "country", "iso_code"); err == nil && code != "" {
		return code, true
	}
	if err := res.DecodePath(&code, "registered_country", "iso_code"); err == nil && code != "" {
		return code, true
	}
	return "", false
}

// Close releases the database. Lookups after Close find nothing.
func (db *DB) Close() error {
	if db == nil || db.r == nil {
		return errors.New("geoip: database not open")
	}
	return db.r.Close()
}
