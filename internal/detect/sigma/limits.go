package sigma

// Limits bounds the resources a single Parse call may use. Inputs exceeding a
// limit are rejected with an error; they never cause a panic or unbounded
// memory use. The zero value of a field means "use the default".
type Limits struct {
	MaxFileSize        int // bytes of YAML input
	MaxDocuments       int // YAML documents ("---") per file
	MaxDepth           int // YAML nesting depth, aliases expanded
	MaxNodes           int // YAML nodes per document, aliases expanded
	MaxIdentifiers     int // search identifiers per detection
	MaxItems           int // field items per detection, all identifiers together
	MaxValues          int // values per item
	MaxAlternatives    int // value alternatives per item (windash, base64offset expand values)
	MaxExpandedBytes   int // bytes of all patterns (and compiled regexps) of a file after expansion
	MaxConditionLength int // bytes per condition string
	MaxConditionDepth  int // nesting of parentheses and "not" in a condition
	MaxRegexLength     int // bytes per regular expression
	MaxRegexCost       int // estimated program instructions per regular expression
	MaxErrors          int // problems reported before giving up
}

// DefaultLimits are the limits used by Parse.
var DefaultLimits = Limits{
	MaxFileSize:        1 << 20,
	MaxDocuments:       64,
	MaxDepth:           32,
	MaxNodes:           100_000,
	MaxIdentifiers:     256,
	MaxItems:           4096,
	MaxValues:          1024,
	MaxAlternatives:    4096,
	MaxExpandedBytes:   16 << 20,
	MaxConditionLength: 4096,
	MaxConditionDepth:  64,
	MaxRegexLength:     4096,
	MaxRegexCost:       10_000,
	MaxErrors:          200,
}

// withDefaults returns l with every zero or negative field replaced by the
// corresponding default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxFileSize, d.MaxFileSize)
	set(&l.MaxDocuments, d.MaxDocuments)
	set(&l.MaxDepth, d.MaxDepth)
	set(&l.MaxNodes, d.MaxNodes)
	set(&l.MaxIdentifiers, d.MaxIdentifiers)
	set(&l.MaxItems, d.MaxItems)
	set(&l.MaxValues, d.MaxValues)
	set(&l.MaxAlternatives, d.MaxAlternatives)
	set(&l.MaxExpandedBytes, d.MaxExpandedBytes)
	set(&l.MaxConditionLength, d.MaxConditionLength)
	set(&l.MaxConditionDepth, d.MaxConditionDepth)
	set(&l.MaxRegexLength, d.MaxRegexLength)
	set(&l.MaxRegexCost, d.MaxRegexCost)
	set(&l.MaxErrors, d.MaxErrors)
	return l
}
