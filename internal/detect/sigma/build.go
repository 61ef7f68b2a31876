package sigma

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// regexInstBytes is the memory charged to MaxExpandedBytes per estimated
// instruction of a compiled regular expression.
const regexInstBytes = 256

// scalarType classifies a scalar the way the specification sees it.
func scalarType(n *yaml.Node) string {
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return "string"
	case "!!int", "!!float":
		return "number"
	case "!!bool":
		return "bool"
	case "!!null":
		return "null"
	}
	return ""
}

// buildValue turns one scalar into a Value according to the modifiers, with
// every value transformation applied. It returns a message on failure.
func (p *parser) buildValue(spec *modSpec, n *yaml.Node, keyword bool) (*Value, string) {
	v := &Value{Raw: n.Value, Pos: nodePos(n)}
	typ := scalarType(n)
	if typ == "" {
		return nil, fmt.Sprintf("unsupported YAML tag %s on value %q", n.ShortTag(), clip(n.Value, 40))
	}
	var num Number
	if typ == "number" {
		var ok bool
		if num, ok = scalarNumber(n); !ok {
			return nil, fmt.Sprintf("number %q is out of range", clip(n.Value, 40))
		}
	}
	switch {
	case spec.match == MatchExists:
		if typ != "bool" {
			return nil, fmt.Sprintf("modifier \"exists\" takes true or false, got %s %q", typ, clip(n.Value, 40))
		}
		v.Kind = KindBool
		_ = n.Decode(&v.Bool)
		return v, ""

	case spec.match == MatchRegex:
		if typ != "string" && typ != "number" {
			return nil, fmt.Sprintf("modifier \"re\" takes a regular expression string, got %s", typ)
		}
		// Compiling allocates far more than the program keeps: charge
		// regexInstBytes per instruction to the expansion budget.
		budget := (p.lim.MaxExpandedBytes - p.expanded) / regexInstBytes
		re, cost, err := compileRegex(n.Value, spec.reFlags, p.lim.MaxRegexLength, p.lim.MaxRegexCost, budget)
		if err != nil {
			return nil, err.Error()
		}
		p.expanded += regexInstBytes * cost
		v.Kind, v.Regex = KindRegex, re
		return v, ""

	case spec.match == MatchCIDR:
		if typ != "string" {
			return nil, fmt.Sprintf("modifier \"cidr\" takes a network string such as 10.0.0.0/8, got %s", typ)
		}
		pfx, err := parseCIDR(n.Value)
		if err != nil {
			return nil, err.Error()
		}
		v.Kind, v.CIDR = KindCIDR, pfx
		return v, ""

	case spec.timePart != TimeNone:
		if typ != "number" || !num.IsInt {
			return nil, fmt.Sprintf("time modifier %q takes an integer, got %s %q", spec.timePart, typ, clip(n.Value, 40))
		}
		r := timeRange[spec.timePart]
		if num.Int < r[0] || num.Int > r[1] {
			return nil, fmt.Sprintf("time modifier %q takes a value between %d and %d, got %d", spec.timePart, r[0], r[1], num.Int)
		}
		v.Kind, v.Number = KindNumber, num
		return v, ""

	case spec.match >= MatchLT && spec.match <= MatchGTE:
		if typ != "number" {
			return nil, fmt.Sprintf("modifier %q takes a number, got %s %q", spec.match, typ, clip(n.Value, 40))
		}
		v.Kind, v.Number = KindNumber, num
		return v, ""

	case spec.fieldref:
		if typ != "string" || n.Value == "" {
			return nil, fmt.Sprintf("modifier \"fieldref\" takes a field name, got %s %q", typ, clip(n.Value, 40))
		}
		v.Kind, v.FieldRef = KindFieldRef, n.Value
		return v, ""
	}

	// Plain values and string modifiers.
	switch typ {
	case "null":
		if spec.stringOnly() || spec.all || spec.cased || keyword {
			return nil, "null cannot be used as a keyword or with string modifiers (use \"exists\" to test for a field)"
		}
		v.Kind = KindNull
		return v, ""
	case "bool":
		if spec.stringOnly() || spec.cased || keyword {
			return nil, fmt.Sprintf("boolean %s cannot be used as a keyword or with string modifiers (quote it to match the text)", n.Value)
		}
		v.Kind = KindBool
		_ = n.Decode(&v.Bool)
		return v, ""
	case "number":
		if !spec.stringOnly() && !keyword {
			v.Kind, v.Number = KindNumber, num
			return v, ""
		}
		// A number under a string modifier is matched as its text.
	}
	pat, err := parsePattern(n.Value, spec.expand)
	if err != nil {
		return nil, err.Error()
	}
	alts := []Pattern{pat}
	for _, t := range spec.transform {
		if est := p.lim.MaxExpandedBytes - p.expanded; expansionSize(t, alts, p.lim.MaxAlternatives) > est {
			return nil, fmt.Sprintf("the file's values expand beyond %d bytes", p.lim.MaxExpandedBytes)
		}
		next := make([]Pattern, 0, len(alts))
		for _, a := range alts {
			switch t {
			case ModWindash:
				w, err := windash(a, p.lim.MaxAlternatives)
				if err != nil {
					return nil, err.Error()
				}
				next = append(next, w...)
			case ModUTF16LE, ModWide:
				next = append(next, utf16Encode(a, false, false))
			case ModUTF16BE:
				next = append(next, utf16Encode(a, true, false))
			case ModUTF16:
				next = append(next, utf16Encode(a, false, true))
			case ModBase64:
				b, err := base64Encode(a)
				if err != nil {
					return nil, err.Error()
				}
				next = append(next, b)
			case ModBase64Offset:
				b, err := base64Offset(a)
				if err != nil {
					return nil, err.Error()
				}
				next = append(next, b...)
			}
			if len(next) > p.lim.MaxAlternatives {
				return nil, fmt.Sprintf("value expands into more than %d alternatives", p.lim.MaxAlternatives)
			}
		}
		alts = next
	}
	v.Kind, v.Patterns = KindString, alts
	return v, ""
}

// expansionSize estimates the bytes transformation t makes out of alts,
// before doing it. A windash expansion above maxAlts counts as one pattern:
// windash itself reports it.
func expansionSize(t Modifier, alts []Pattern, maxAlts int) int {
	total := 0
	for _, a := range alts {
		size := 0
		for _, s := range a {
			size += len(s.Text) + 1
		}
		switch t {
		case ModWindash:
			n := 1
			for range windashSlots(a) {
				if n *= len(windashChars); n > maxAlts {
					n = 1
					break
				}
			}
			size *= n
		case ModUTF16LE, ModUTF16BE, ModUTF16, ModWide:
			size = 2*size + 2
		case ModBase64:
			size = size*4/3 + 4
		case ModBase64Offset:
			size = 3 * (size*4/3 + 4)
		}
		total += size
	}
	return total
}
