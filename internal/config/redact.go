package config

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// Redacted returns the effective configuration as YAML, every key in the
// order of the reference, with secrets shown as <secret> (or "" when unset)
// and the user information of bus URLs masked. It is what
// `vigil config print` shows.
func (c *Config) Redacted() string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(sectionNode(c.schema())); err != nil {
		// The tree is built here from strings, lists and mappings only;
		// the encoder has nothing to reject.
		panic("config: encoding the redacted config: " + err.Error())
	}
	enc.Close()
	return buf.String()
}

// sectionNode renders fields as a YAML mapping.
func sectionNode(fields []field) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, f := range fields {
		var v *yaml.Node
		if f.sub != nil {
			v = sectionNode(f.sub)
		} else {
			v = f.val.node()
		}
		n.Content = append(n.Content, strNode(f.key), v)
	}
	return n
}
