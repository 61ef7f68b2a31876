// Package sigma parses and validates Sigma rules (specification v2.1):
// detection rules, filters (meta rules) and correlation rules. It is a pure
// parser: it reads YAML, checks it against the specification and produces a
// typed representation that a matching engine can compile directly. It does
// not evaluate rules against events.
//
// # Parsing
//
//	docs, err := sigma.Parse("rules/aws_iam.yml", data)
//
// A file may hold several YAML documents separated by "---". Each becomes a
// Document: a *Rule (has detection), a *Filter (has filter) or a
// *Correlation (has correlation). Parse returns every valid document and, if
// anything is wrong, an ErrorList holding every problem of the file, each
// printed as "file:line:col: message" and sorted by position. Documents with
// a problem are left out of the slice. ParseWithLimits sets resource limits
// (see Limits); Parse uses DefaultLimits. Parse never panics.
//
// ParseCondition parses a single condition string against a list of search
// identifier names; errors are *ConditionError with the column.
//
// # Rules
//
// Rule embeds Metadata (title, id, status, level, tags, ...; attributes the
// specification does not define are kept in Metadata.Custom), a LogSource
// and a Detection.
//
// A Detection has Identifiers (search identifiers, in source order) and
// Conditions (a list of conditions is linked with OR). A SearchIdentifier
// matches when any of its Branches matches; a Branch matches when all of
// its Items match. A YAML mapping gives one branch, a list of mappings one
// branch per mapping, and a list of plain values one branch holding a single
// keyword Item (Field == "").
//
// # Items
//
// An Item is one "field|mod1|mod2: values" entry. The engine needs:
//
//   - Field: the event field; "" for a keyword (full-text) search.
//   - Match: equals, contains, startswith, endswith, re, cidr, lt, lte, gt,
//     gte or exists. Keyword items without a match modifier use contains.
//   - Cased: compare strings case-sensitively (the default is insensitive).
//     Regular expressions are case-sensitive unless their flags contain "i".
//   - TimePart: when set (minute, hour, day, week, month, year) the engine
//     extracts that component from the field's date and compares it, with
//     Match equals or lt/lte/gt/gte, against integer values.
//   - All: every value must match instead of any.
//   - Neq: the item matches when the field matches none of the values (the
//     result of the any/all combination is negated).
//   - Expand: string values may contain placeholder segments that the
//     engine must resolve (or reject the rule, as the specification asks).
//   - Values: each Value matches when any of its alternatives matches.
//
// Value.Kind says what a value holds: KindString (Patterns), KindNumber,
// KindBool (also the argument of exists), KindNull, KindRegex (compiled Go
// regexp with the i/m/s flags applied), KindCIDR (a masked netip.Prefix) or
// KindFieldRef (compare with the value of another field of the same event;
// combined with Match it gives equals/contains/startswith/endswith against
// that field, and with Neq inequality).
//
// Value-transforming modifiers are applied at parse time, in the order
// written, so the engine gets the final alternatives: windash (every
// permutation of -, /, en dash, em dash and horizontal bar), utf16le/wide,
// utf16be, utf16 (little endian with a byte order mark), base64 and
// base64offset (the three encodings of the value at byte offsets 0, 1 and 2
// of the surrounding data, with the unstable edge characters removed).
// Encoded values are raw byte strings.
//
// A Pattern is a string split into segments: literal text (escapes already
// resolved: \* and \? are literal, \\ is a backslash, a lone backslash is
// itself), "*" (any run of characters), "?" (one character) and, with
// expand, placeholders. Match contains/startswith/endswith mean the pattern
// is matched with an implicit "*" around it, at its end or at its start.
// A number under a string modifier is matched as text.
//
// # Conditions
//
// A condition is parsed into an Expr tree: *OrExpr, *AndExpr, *NotExpr,
// *IdentExpr and *OfExpr, with precedence (loosest first) or, and, not,
// "x of", parentheses. Keywords are case-insensitive. Identifiers are
// resolved at parse time: IdentExpr.Index and OfExpr.Indices index
// Detection.Identifiers. "1 of" / "all of" / "N of" take a pattern where
// "*" matches any run of characters, or "them", which excludes identifiers
// starting with "_". Unknown identifiers, patterns matching nothing, an
// "N of" that can never match, and the removed aggregation syntax
// ("| count() by ...", "near") are errors.
//
// # Filters and correlations
//
// A Filter names the rules it applies to (Rules, by id or name) and carries
// a Detection built like a rule's; its condition describes the events to
// exclude from those rules.
//
// A Correlation has a Type (event_count, value_count, temporal,
// temporal_ordered, value_sum, value_avg, value_percentile), the referenced
// Rules, GroupBy fields, a Timespan (s, m, h or d units), an optional
// Condition (thresholds gt/gte/lt/lte/eq/neq linked with AND, plus the
// aggregated Field for value_* types), field name Aliases and Generate.
// References between documents are not resolved: rules may live in other
// files.
//
// # Limits
//
// Input size, number of documents, YAML nesting depth and node count (with
// aliases expanded, so anchor/alias bombs are refused without expanding
// them), search identifiers, items, values and their alternatives,
// condition length and nesting, and regular expression length are bounded.
//
// # Deviations from the specification
//
// Regular expressions are compiled with Go's RE2 engine. PCRE features it
// lacks (lookaround, backreferences, atomic groups, possessive quantifiers,
// \Z, ...) are reported as errors; other features of RE2 beyond the minimal
// PCRE subset of the specification (\d, \s, classes, ...) are accepted.
// RE2's "$" does not match before a final newline as PCRE's does.
//
// The rule collections of Sigma v1 (action: global, reset, repeat) are not
// part of v2 and are rejected.
package sigma
