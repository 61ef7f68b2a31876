package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// gadget is a test-only configuration struct with every kind of field the
// reflection decoder supports.
type gadget struct {
	Name     string            `yaml:"name"`
	Enabled  *bool             `yaml:"enabled"`
	Count    int               `yaml:"count"`
	Strict   bool              `yaml:"strict"`
	Timeout  time.Duration     `yaml:"timeout"`
	Wait     *time.Duration    `yaml:"wait"`
	Tags     []string          `yaml:"tags"`
	Labels   map[string]string `yaml:"labels"`
	Token    Secret            `yaml:"token"`
	Headers  map[string]Secret `yaml:"headers"`
	Part     *part             `yaml:"part"`
	Parts    []part            `yaml:"parts"`
	Internal string            // untagged: not a key
}

type part struct {
	Size int    `yaml:"size"`
	Note string `yaml:"note"`
}

// Validate reports, per field, problems the types cannot.
func (g *gadget) Validate() error {
	var errs []error
	if g.Count > 10 {
		errs = append(errs, fieldError{"count", fmt.Errorf("must be at most 10, got %d", g.Count)})
	}
	if g.Token != "" && len(g.Token) < 8 {
		errs = append(errs, fieldError{"token", fmt.Errorf("the token %s is too short", g.Token.Reveal())})
	}
	if g.Name == "whole" {
		errs = append(errs, errors.New("the whole gadget is wrong"))
	}
	return errors.Join(errs...)
}

func (p *part) Validate() error {
	if p.Size < 0 {
		return fieldError{"size", errors.New("must not be negative")}
	}
	return nil
}

type fieldError struct {
	field string
	err   error
}

func (e fieldError) Error() string     { return e.field + ": " + e.err.Error() }
func (e fieldError) Unwrap() error     { return e.err }
func (e fieldError) FieldPath() string { return e.field }

// decodeGadgets decodes src as a list of gadgets with the reflection
// decoder, validates them, and prints them back.
func decodeGadgets(t *testing.T, src string) ([]gadget, string, error) {
	t.Helper()
	var gs []gadget
	l := newLoader("gadget.yaml")
	l.readSecret = func(path string) (Secret, error) {
		if path == "/run/secrets/token" {
			return "token-from-file", nil
		}
		return "", fmt.Errorf("cannot read secret file %q: no such file or directory", path)
	}
	fields := []field{leaf("gadgets", reflectLeaf(&gs))}
	root, ok := l.parseYAML([]byte(src))
	if !ok {
		return nil, "", l.result()
	}
	l.document(root, fields)
	l.validateValue("gadgets", reflect.ValueOf(&gs).Elem())
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(sectionNode(fields)); err != nil {
		t.Fatal(err)
	}
	return gs, out.String(), l.result()
}

func TestReflectDecoder(t *testing.T) {
	yes := true
	wait := 2 * time.Second
	src := `gadgets:
  - name: a
    enabled: true
    count: 3
    strict: true
    timeout: 1m30s
    wait: 2s
    tags: [x, "y z"]
    labels: {team: sec, "on call": "yes"}
    token_file: /run/secrets/token
    headers: {Authorization: Bearer abc}
    part:
    parts: [{size: 1}, {note: hi}]
  - name: b
    tags: []
    labels: {}
`
	got, printed, err := decodeGadgets(t, src)
	if err != nil {
		t.Fatal(err)
	}
	want := []gadget{
		{Name: "a", Enabled: &yes, Count: 3, Strict: true, Timeout: 90 * time.Second, Wait: &wait, Tags: []string{"x", "y z"},
			Labels: map[string]string{"team": "sec", "on call": "yes"}, Token: "token-from-file", Headers: map[string]Secret{"Authorization": "Bearer abc"},
			Part: &part{}, Parts: []part{{Size: 1}, {Note: "hi"}}},
		{Name: "b", Tags: []string{}, Labels: map[string]string{}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(gadget{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantPrinted := `gadgets:
  - name: a
    enabled: true
    count: 3
    strict: true
    timeout: 1m30s
    wait: 2s
    tags: [x, y z]
    labels:
      on call: yes
      team: sec
    token: <secret>
    headers:
      Authorization: <secret>
    part: {}
    parts:
      - size: 1
      - note: hi
  - name: b
    tags: []
    labels: {}
`
	if diff := cmp.Diff(wantPrinted, printed); diff != "" {
		t.Errorf("printed (-want +got):\n%s", diff)
	}
}

func TestReflectDecoderProblems(t *testing.T) {
	src := `gadgets:
  - name: a
    cont: 3
    enabled: yes
    tags: [ok, ""]
    token: short
    token_file: /run/secrets/token
    parts: [{size: -1}, {size: x}]
  - name: whole
    count: 11
    token: tiny
  - part: 7
    headers: [not, a, map]
  - name: c
    wait: 3d
    labels: {a: [1]}
    headers: {X-Key: [secret-in-a-list]}
`
	_, _, err := decodeGadgets(t, src)
	want := []string{
		`gadget.yaml:3:5: unknown key "cont" in gadgets[0] (did you mean "count"?); valid keys: name, enabled, count, strict, timeout, wait, tags, labels, token, token_file, headers, part, parts`,
		`gadget.yaml:4:14: gadgets[0].enabled: expected true or false, got a string "yes"`,
		`gadget.yaml:5:16: gadgets[0].tags[1]: empty entry`,
		`gadget.yaml:7:5: gadgets[0]: give token or token_file, not both (the other is at line 6)`,
		`gadget.yaml:8:20: gadgets[0].parts[0].size: must not be negative`,
		`gadget.yaml:8:32: gadgets[0].parts[1].size: expected a whole number, got a string "x"`,
		`gadget.yaml:9:5: gadgets[1]: the whole gadget is wrong`,
		`gadget.yaml:10:12: gadgets[1].count: must be at most 10, got 11`,
		`gadget.yaml:11:12: gadgets[1].token: the token <secret> is too short`,
		`gadget.yaml:12:11: gadgets[2].part: expected a mapping with keys size, note, got a number "7"`,
		`gadget.yaml:13:14: gadgets[2].headers: expected a mapping, got a list`,
		`gadget.yaml:15:11: gadgets[3].wait: bad duration "3d": durations have no days or weeks; use hours, e.g. "720h" for 30 days`,
		`gadget.yaml:16:17: gadgets[3].labels.a: expected a string, got a list`,
		`gadget.yaml:17:22: gadgets[3].headers.X-Key: expected a string, got a list`,
	}
	if err == nil {
		t.Fatal("no problems")
	}
	got := strings.Split(err.Error(), "\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if strings.Contains(err.Error(), "secret-in-a-list") || strings.Contains(err.Error(), "tiny") {
		t.Errorf("a problem quotes a secret:\n%v", err)
	}
}
