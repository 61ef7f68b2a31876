package sigma

import (
	"fmt"
	"github.com/vigil-sec/vigil/internal/suggest"
	"sort"
	"strings"
)

// Modifier is a value modifier as written after a field name: field|mod.
type Modifier string

// Modifiers of the Sigma v2.1 modifiers appendix.
const (
	ModAll          Modifier = "all"
	ModStartsWith   Modifier = "startswith"
	ModEndsWith     Modifier = "endswith"
	ModContains     Modifier = "contains"
	ModExists       Modifier = "exists"
	ModCased        Modifier = "cased"
	ModNeq          Modifier = "neq"
	ModWindash      Modifier = "windash"
	ModRe           Modifier = "re"
	ModReI          Modifier = "i"
	ModReM          Modifier = "m"
	ModReS          Modifier = "s"
	ModBase64       Modifier = "base64"
	ModBase64Offset Modifier = "base64offset"
	ModUTF16LE      Modifier = "utf16le"
	ModUTF16BE      Modifier = "utf16be"
	ModUTF16        Modifier = "utf16"
	ModWide         Modifier = "wide"
	ModLT           Modifier = "lt"
	ModLTE          Modifier = "lte"
	ModGT           Modifier = "gt"
	ModGTE          Modifier = "gte"
	ModMinute       Modifier = "minute"
	ModHour         Modifier = "hour"
	ModDay          Modifier = "day"
	ModWeek         Modifier = "week"
	ModMonth        Modifier = "month"
	ModYear         Modifier = "year"
	ModCIDR         Modifier = "cidr"
	ModExpand       Modifier = "expand"
	ModFieldRef     Modifier = "fieldref"
)

// modClass groups modifiers that exclude each other within a class or that
// share validation rules.
type modClass uint8

const (
	classGeneric  modClass = iota // all, cased, neq
	classKind                     // contains, startswith, endswith
	classRegex                    // re
	classReFlag                   // i, m, s
	classEncode                   // base64, base64offset
	classUTF16                    // utf16le, utf16be, utf16, wide
	classWindash                  // windash
	classCompare                  // lt, lte, gt, gte
	classTime                     // minute ... year
	classCIDR                     // cidr
	classExists                   // exists
	classExpand                   // expand
	classFieldRef                 // fieldref
)

var modClasses = map[Modifier]modClass{
	ModAll: classGeneric, ModCased: classGeneric, ModNeq: classGeneric,
	ModContains: classKind, ModStartsWith: classKind, ModEndsWith: classKind,
	ModRe: classRegex, ModReI: classReFlag, ModReM: classReFlag, ModReS: classReFlag,
	ModBase64: classEncode, ModBase64Offset: classEncode,
	ModUTF16LE: classUTF16, ModUTF16BE: classUTF16, ModUTF16: classUTF16, ModWide: classUTF16,
	ModWindash: classWindash,
	ModLT:      classCompare, ModLTE: classCompare, ModGT: classCompare, ModGTE: classCompare,
	ModMinute: classTime, ModHour: classTime, ModDay: classTime, ModWeek: classTime, ModMonth: classTime, ModYear: classTime,
	ModCIDR:     classCIDR,
	ModExists:   classExists,
	ModExpand:   classExpand,
	ModFieldRef: classFieldRef,
}

// MatchKind is how an item compares a field with its values.
type MatchKind uint8

// Match kinds. For string values, Equals compares the whole field with the
// pattern (wildcards included); Contains, StartsWith and EndsWith behave as
// if the pattern had "*" added on both sides, at the end or at the start.
const (
	MatchEquals MatchKind = iota
	MatchContains
	MatchStartsWith
	MatchEndsWith
	MatchRegex  // values are KindRegex
	MatchCIDR   // values are KindCIDR
	MatchLT     // field < number
	MatchLTE    // field <= number
	MatchGT     // field > number
	MatchGTE    // field >= number
	MatchExists // one KindBool value: whether the field must exist
)

var matchKindNames = [...]string{"equals", "contains", "startswith", "endswith", "re", "cidr", "lt", "lte", "gt", "gte", "exists"}

// String names the match kind.
func (k MatchKind) String() string {
	if int(k) < len(matchKindNames) {
		return matchKindNames[k]
	}
	return fmt.Sprintf("MatchKind(%d)", uint8(k))
}

// TimePart is the date component a time modifier extracts from a field
// before comparing it with numeric values.
type TimePart uint8

// Time parts, with the range of values the specification allows.
const (
	TimeNone   TimePart = iota
	TimeMinute          // 0-59
	TimeHour            // 0-23
	TimeDay             // 1-31, day of month
	TimeWeek            // 1-52, week of year
	TimeMonth           // 1-12
	TimeYear            // the year
)

var timeParts = map[Modifier]TimePart{
	ModMinute: TimeMinute, ModHour: TimeHour, ModDay: TimeDay,
	ModWeek: TimeWeek, ModMonth: TimeMonth, ModYear: TimeYear,
}

var timePartNames = [...]string{"", "minute", "hour", "day", "week", "month", "year"}

// String names the time part ("" for TimeNone).
func (t TimePart) String() string {
	if int(t) < len(timePartNames) {
		return timePartNames[t]
	}
	return fmt.Sprintf("TimePart(%d)", uint8(t))
}

// timeRange is the valid value range of each time part.
var timeRange = map[TimePart][2]int64{
	TimeMinute: {0, 59}, TimeHour: {0, 23}, TimeDay: {1, 31},
	TimeWeek: {1, 52}, TimeMonth: {1, 12}, TimeYear: {0, 9999},
}

// modSpec is the validated meaning of an item's modifier chain.
type modSpec struct {
	match     MatchKind
	timePart  TimePart
	cased     bool
	neq       bool
	all       bool
	expand    bool
	fieldref  bool
	reFlags   string
	transform []Modifier // value transformations in order: encodings and windash
	has       map[modClass]Modifier
}

// stringOnly reports whether the modifiers turn every value into a string.
func (s *modSpec) stringOnly() bool {
	_, kind := s.has[classKind]
	return kind || len(s.transform) > 0 || s.expand
}

// parseModifiers validates a modifier chain. keyword is true for items
// without a field name. Every problem is returned; the spec is valid only
// when the list is empty.
func parseModifiers(mods []string, keyword bool) (*modSpec, []string) {
	spec := &modSpec{has: map[modClass]Modifier{}}
	var probs []string
	seen := map[Modifier]bool{}
	sawRe := false
	for _, m := range mods {
		mod := Modifier(m)
		if m == "" {
			probs = append(probs, "empty modifier (two \"|\" in a row or a trailing \"|\")")
			continue
		}
		class, known := modClasses[mod]
		if !known {
			probs = append(probs, unknownModifier(m))
			continue
		}
		if seen[mod] {
			probs = append(probs, fmt.Sprintf("modifier %q is repeated", m))
			continue
		}
		seen[mod] = true
		if class != classGeneric && class != classReFlag {
			if prev, dup := spec.has[class]; dup {
				probs = append(probs, fmt.Sprintf("modifiers %q and %q cannot be combined", prev, mod))
				continue
			}
			spec.has[class] = mod
		}
		switch class {
		case classGeneric:
			switch mod {
			case ModAll:
				spec.all = true
			case ModCased:
				spec.cased = true
			case ModNeq:
				spec.neq = true
			}
		case classKind:
			spec.match = map[Modifier]MatchKind{ModContains: MatchContains, ModStartsWith: MatchStartsWith, ModEndsWith: MatchEndsWith}[mod]
		case classRegex:
			sawRe = true
			spec.match = MatchRegex
		case classReFlag:
			if !sawRe {
				probs = append(probs, fmt.Sprintf("regular expression flag %q must follow the \"re\" modifier", m))
				continue
			}
			spec.reFlags += m
		case classEncode, classUTF16, classWindash:
			if class == classWindash && len(spec.transform) > 0 {
				probs = append(probs, fmt.Sprintf("modifier \"windash\" must come before %q: it replaces dashes in the plain text", spec.transform[0]))
				continue
			}
			spec.transform = append(spec.transform, mod)
		case classCompare:
			spec.match = map[Modifier]MatchKind{ModLT: MatchLT, ModLTE: MatchLTE, ModGT: MatchGT, ModGTE: MatchGTE}[mod]
		case classTime:
			spec.timePart = timeParts[mod]
		case classCIDR:
			spec.match = MatchCIDR
		case classExists:
			spec.match = MatchExists
		case classExpand:
			spec.expand = true
		case classFieldRef:
			spec.fieldref = true
		}
	}
	// Normalise the regex flags to the order "ims".
	var flags []byte
	for _, f := range "ims" {
		if strings.ContainsRune(spec.reFlags, f) {
			flags = append(flags, byte(f))
		}
	}
	spec.reFlags = string(flags)
	probs = append(probs, spec.conflicts(keyword)...)
	return spec, probs
}

// conflicts lists the modifier combinations the specification does not
// allow or that have no meaning.
func (s *modSpec) conflicts(keyword bool) []string {
	var probs []string
	clash := func(a, b modClass) {
		ma, okA := s.has[a]
		mb, okB := s.has[b]
		if okA && okB {
			probs = append(probs, fmt.Sprintf("modifiers %q and %q cannot be combined", ma, mb))
		}
	}
	// Type modifiers exclude each other and the string modifiers.
	exclusive := []modClass{classExists, classRegex, classCIDR, classCompare, classFieldRef}
	stringish := []modClass{classKind, classEncode, classUTF16, classWindash, classExpand}
	for i, a := range exclusive {
		for _, b := range exclusive[i+1:] {
			clash(a, b)
		}
		for _, b := range stringish {
			if a == classFieldRef && b == classKind {
				continue // fieldref|contains compares with part of another field
			}
			clash(a, b)
		}
	}
	clash(classTime, classExists)
	clash(classTime, classRegex)
	clash(classTime, classCIDR)
	clash(classTime, classFieldRef)
	for _, b := range stringish {
		clash(classTime, b)
	}
	clash(classExpand, classEncode)
	clash(classExpand, classUTF16)
	clash(classExpand, classWindash)
	if mod, ok := s.has[classExists]; ok && (s.all || s.cased || s.neq) {
		probs = append(probs, fmt.Sprintf("modifier %q cannot be combined with other modifiers", mod))
	}
	if s.cased {
		for _, c := range []casedConflict{{classRegex, "regular expressions are case-sensitive by default; use re|i for case-insensitive matching"},
			{classCIDR, "cidr values have no case"}, {classCompare, "numbers have no case"}, {classTime, "numbers have no case"}} {
			if _, ok := s.has[c.class]; ok {
				probs = append(probs, fmt.Sprintf("modifier \"cased\" cannot be combined with %q: %s", s.has[c.class], c.why))
			}
		}
	}
	if s.neq {
		if mod, ok := s.has[classCompare]; ok {
			probs = append(probs, fmt.Sprintf("modifiers \"neq\" and %q cannot be combined", mod))
		}
	}
	if s.has[classEncode] == ModBase64Offset && s.has[classKind] != ModContains {
		probs = append(probs, "modifier \"base64offset\" requires \"contains\": an offset encoding only appears inside a longer base64 string")
	}
	if keyword {
		for _, c := range []modClass{classExists, classCompare, classTime, classCIDR, classFieldRef} {
			if mod, ok := s.has[c]; ok {
				probs = append(probs, fmt.Sprintf("modifier %q needs a field name; it cannot be used in a keyword search", mod))
			}
		}
		if s.neq {
			probs = append(probs, "modifier \"neq\" needs a field name; it cannot be used in a keyword search")
		}
	}
	return probs
}

type casedConflict struct {
	class modClass
	why   string
}

// unknownModifier builds the message for an unknown modifier, suggesting
// the closest known one.
func unknownModifier(m string) string {
	best, bestDist := "", 3
	names := make([]string, 0, len(modClasses))
	for k := range modClasses {
		names = append(names, string(k))
	}
	sort.Strings(names)
	for _, k := range names {
		if len(k) < 3 {
			continue
		}
		if d := editDistance(strings.ToLower(m), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown modifier %q (did you mean %q?)", m, best)
	}
	return fmt.Sprintf("unknown modifier %q", m)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int { return suggest.Distance(a, b) }
