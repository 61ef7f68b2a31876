package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// field is one key of a YAML mapping: a leaf with a value, or a section
// with keys of its own.
type field struct {
	key string
	val value   // a leaf's value; nil for a section
	sub []field // a section's keys
}

// value is a leaf of the schema, bound to a field of a Config. The same
// value decodes the file, takes an environment override and prints itself
// for Redacted, so the three cannot drift apart.
type value interface {
	// decode sets the value from n, which is alias-resolved and not nil,
	// and reports problems at n under key.
	decode(d *loader, key string, n *yaml.Node)
	// set sets the value from an environment variable's text. Its error
	// does not name the variable; the caller does.
	set(s string) error
	// node renders the value for Redacted.
	node() *yaml.Node
}

// errNoEnv is set's answer for keys that cannot come from the environment.
var errNoEnv = errors.New("cannot be set from the environment; set it in the config file")

// envless is implemented by values whose set always returns errNoEnv.
type envless interface{ envless() }

// schema describes every key of c, bound to c's fields.
func (c *Config) schema() []field {
	sv, lg, bus, st, dt, al, ps := &c.Server, &c.Log, &c.Bus, &c.Store, &c.Detect, &c.Alerts, &c.Ingest.PubSub
	return []field{
		section("server",
			leaf("listen", strValue{&sv.Listen}),
			leaf("data", strValue{&sv.Data}),
			leaf("shutdown_timeout", durValue{&sv.ShutdownTimeout}),
			leaf("max_body_bytes", sizeValue{&sv.MaxBodyBytes}),
			leaf("max_inflight_bytes", sizeValue{&sv.MaxInflightBytes}),
		),
		section("log",
			leaf("level", strValue{&lg.Level}),
			leaf("format", strValue{&lg.Format}),
		),
		section("bus",
			leaf("url", urlValue{strValue{&bus.URL}}),
			leaf("max_bytes", sizeValue{&bus.MaxBytes}),
			leaf("duplicate_window", durValue{&bus.DuplicateWindow}),
		),
		section("store",
			leaf("retention", durValue{&st.Retention}),
		),
		section("detect",
			leaf("builtin", boolValue{&dt.Builtin}),
			leaf("rules", listValue{&dt.Rules}),
			leaf("placeholders", placeholdersValue{&dt.Placeholders}),
			leaf("field_mapping", strValue{&dt.FieldMapping}),
			leaf("workers", intValue{&dt.Workers}),
			leaf("batch", intValue{&dt.Batch}),
			leaf("correlation_lateness", durValue{&dt.CorrelationLateness}),
			leaf("baselines", boolValue{&dt.Baselines}),
			leaf("baseline_rules", listValue{&dt.BaselineRules}),
			leaf("geoip_database", strValue{&dt.GeoIPDatabase}),
			leaf("baseline_lateness", durValue{&dt.BaselineLateness}),
		),
		section("alerts",
			leaf("dedup_window", durValue{&al.DedupWindow}),
		),
		section("ingest",
			section("pubsub",
				leaf("jwks_url", strValue{&ps.JWKSURL}),
				leaf("audience", strValue{&ps.Audience}),
				leaf("issuer", strValue{&ps.Issuer}),
				leaf("service_account_email", strValue{&ps.ServiceAccountEmail}),
				leaf("shared_token", secretValue{&ps.SharedToken}),
			),
		),
		notifyFields(&c.Notify),
	}
}

func leaf(key string, v value) field         { return field{key: key, val: v} }
func section(key string, sub ...field) field { return field{key: key, sub: sub} }

// join appends key to the dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// envName is the environment variable that overrides the key at path.
func envName(path string) string {
	return "VIGIL_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// strValue is a string. Any scalar is taken as its text; null is "".
type strValue struct{ p *string }

func (v strValue) decode(d *loader, key string, n *yaml.Node) {
	if s, ok := d.scalarText(key, n, "a string"); ok {
		*v.p = s
	}
}
func (v strValue) set(s string) error { *v.p = s; return nil }
func (v strValue) node() *yaml.Node   { return strNode(*v.p) }

// urlValue is a string holding URLs whose user information is masked when
// printed.
type urlValue struct{ strValue }

func (v urlValue) node() *yaml.Node { return strNode(maskURLs(*v.p)) }

// boolValue is true or false.
type boolValue struct{ p *bool }

func (v boolValue) decode(d *loader, key string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		if b, err := strconv.ParseBool(n.Value); err == nil {
			*v.p = b
			return
		}
	}
	d.atNode(n, key, "expected true or false, got %s", describe(n))
}
func (v boolValue) set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("expected true or false, got %q", s)
	}
	*v.p = b
	return nil
}
func (v boolValue) node() *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(*v.p)}
}

// intValue is a whole number.
type intValue struct{ p *int }

func (v intValue) decode(d *loader, key string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, strconv.IntSize)
		if err != nil {
			d.atNode(n, key, "number %s is out of range", n.Value)
			return
		}
		*v.p = int(i)
		return
	}
	d.atNode(n, key, "expected a whole number, got %s", describe(n))
}
func (v intValue) set(s string) error {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("expected a whole number, got %q", s)
	}
	*v.p = i
	return nil
}
func (v intValue) node() *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(*v.p)}
}

// durValue is a Go duration string such as "90s", "10m" or "720h".
type durValue struct{ p *time.Duration }

func (v durValue) decode(d *loader, key string, n *yaml.Node) {
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
		if n.Kind == yaml.ScalarNode {
			dur, err := parseDuration(n.Value)
			if err != nil {
				d.atNode(n, key, "%v", err)
				return
			}
			*v.p = dur
			return
		}
	}
	d.atNode(n, key, "expected a duration such as \"10m\", got %s", describe(n))
}
func (v durValue) set(s string) error {
	dur, err := parseDuration(s)
	if err == nil {
		*v.p = dur
	}
	return err
}
func (v durValue) node() *yaml.Node { return strNode(formatDuration(*v.p)) }

// parseDuration parses a Go duration with a hint for the usual mistakes.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err == nil {
		return d, nil
	}
	hint := `want a number with a unit (ns, us, ms, s, m, h), e.g. "90s", "10m", "720h"`
	if strings.HasSuffix(t, "d") || strings.HasSuffix(t, "w") {
		hint = `durations have no days or weeks; use hours, e.g. "720h" for 30 days`
	}
	return 0, fmt.Errorf("bad duration %q: %s", s, hint)
}

// formatDuration prints d as time.Duration does, without trailing zero
// units: "720h" rather than "720h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// sizeValue is a byte count: an integer or a string with a binary suffix.
type sizeValue struct{ p *Size }

func (v sizeValue) decode(d *loader, key string, n *yaml.Node) {
	switch n.ShortTag() {
	case "!!str", "!!int":
		if n.Kind == yaml.ScalarNode {
			sz, err := ParseSize(strings.ReplaceAll(n.Value, "_", ""))
			if err != nil {
				d.atNode(n, key, "%v", err)
				return
			}
			*v.p = sz
			return
		}
	}
	d.atNode(n, key, "expected a size such as \"10MiB\" or a number of bytes, got %s", describe(n))
}
func (v sizeValue) set(s string) error {
	sz, err := ParseSize(s)
	if err == nil {
		*v.p = sz
	}
	return err
}
func (v sizeValue) node() *yaml.Node {
	s := v.p.String()
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: s}
	}
	return strNode(s)
}

// listValue is a list of non-empty strings. From the environment it is
// comma-separated.
type listValue struct{ p *[]string }

func (v listValue) decode(d *loader, key string, n *yaml.Node) {
	if isNull(n) {
		*v.p = []string{}
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.atNode(n, key, "expected a list of strings, got %s", describe(n))
		return
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		item = deref(item)
		s, ok := d.scalarText(fmt.Sprintf("%s[%d]", key, i), item, "a string")
		if !ok {
			continue
		}
		if s == "" {
			d.atNode(item, fmt.Sprintf("%s[%d]", key, i), "empty entry")
			continue
		}
		out = append(out, s)
	}
	*v.p = out
}
func (v listValue) set(s string) error {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*v.p = out
	return nil
}
func (v listValue) node() *yaml.Node { return listNode(*v.p) }

// placeholdersValue maps a placeholder name to its values.
type placeholdersValue struct{ p *map[string][]string }

func (v placeholdersValue) decode(d *loader, key string, n *yaml.Node) {
	if isNull(n) {
		*v.p = map[string][]string{}
		return
	}
	if n.Kind != yaml.MappingNode {
		d.atNode(n, key, "expected a mapping of placeholder names to lists of values, got %s", describe(n))
		return
	}
	out := map[string][]string{}
	for _, p := range d.pairs(n, key) {
		name := p.key.Value
		sub := join(key, name)
		if name == "" {
			d.atNode(p.key, key, "empty placeholder name")
			continue
		}
		if p.val.Kind != yaml.SequenceNode {
			d.atNode(p.val, sub, "expected a list of values, got %s", describe(p.val))
			continue
		}
		vals := make([]string, 0, len(p.val.Content))
		for i, item := range p.val.Content {
			if s, ok := d.scalarText(fmt.Sprintf("%s[%d]", sub, i), deref(item), "a string"); ok {
				vals = append(vals, s)
			}
		}
		out[name] = vals
	}
	*v.p = out
}
func (v placeholdersValue) set(string) error { return errNoEnv }
func (placeholdersValue) envless()           {}
func (v placeholdersValue) node() *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if len(*v.p) == 0 {
		n.Style = yaml.FlowStyle
	}
	for _, name := range slices.Sorted(maps.Keys(*v.p)) {
		n.Content = append(n.Content, strNode(name), listNode((*v.p)[name]))
	}
	return n
}

// secretValue is a Secret, given inline as <key> or read from the file
// named by <key>_file. Problems never quote the value.
type secretValue struct{ p *Secret }

func (v secretValue) decode(d *loader, key string, n *yaml.Node) {
	if isNull(n) {
		*v.p = ""
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.atNode(n, key, "expected a string, got %s", kindName(n))
		return
	}
	*v.p = Secret(n.Value)
}

// decodeFile reads the secret from the file named by n.
func (v secretValue) decodeFile(d *loader, key string, n *yaml.Node) (path string, ok bool) {
	path, ok = d.scalarText(key, n, "a file name")
	if !ok {
		return "", false
	}
	s, err := d.readSecret(path)
	if err != nil {
		d.atNode(n, key, "%v", err)
		return "", false
	}
	*v.p = s
	return path, true
}
func (v secretValue) set(s string) error { *v.p = Secret(s); return nil }
func (v secretValue) node() *yaml.Node {
	if *v.p == "" {
		return strNode("")
	}
	return strNode(redacted)
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func listNode(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if len(items) == 0 {
		n.Style = yaml.FlowStyle
	}
	for _, s := range items {
		n.Content = append(n.Content, strNode(s))
	}
	return n
}
