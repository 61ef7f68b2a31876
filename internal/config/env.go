package config

import (
	"maps"
	"slices"
	"strings"
)

// envVar is one environment variable the schema accepts.
type envVar struct {
	path    string // dotted key
	val     value
	viaFile bool // the VIGIL_..._FILE form of a secret
}

// envVars lists every variable that overrides a key of fields, by name:
// VIGIL_<SECTION>_<KEY>, and VIGIL_<SECTION>_<KEY>_FILE for secrets.
func envVars(fields []field) map[string]envVar {
	out := map[string]envVar{}
	var walk func(path string, fields []field)
	walk = func(path string, fields []field) {
		for _, f := range fields {
			full := join(path, f.key)
			if f.sub != nil {
				walk(full, f.sub)
				continue
			}
			out[envName(full)] = envVar{path: full, val: f.val}
			if _, ok := f.val.(secretValue); ok {
				out[envName(full)+"_FILE"] = envVar{path: full, val: f.val, viaFile: true}
			}
		}
	}
	walk("", fields)
	return out
}

// environ applies the VIGIL_* entries of environ to cfg. A variable that
// names a section of the config but no key of it is a problem (a typo would
// otherwise be ignored); other VIGIL_* variables, such as the client's
// VIGIL_URL and VIGIL_TOKEN, are not the server's and are left alone.
func (l *loader) environ(cfg *Config, environ []string) {
	fields := cfg.schema()
	vars := envVars(fields)
	set := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "VIGIL_") {
			set[k] = v // the last entry wins
		}
	}
	secretVia := map[string]string{} // path -> the variable that set the secret
	for _, name := range slices.Sorted(maps.Keys(set)) {
		text := set[name]
		ev, ok := vars[name]
		if !ok {
			l.unknownEnv(name, fields, vars)
			continue
		}
		if other, dup := secretVia[ev.path]; dup {
			l.atEnv(name, "set %s or %s, not both", other, name)
			continue
		}
		if sv, ok := ev.val.(secretValue); ok {
			secretVia[ev.path] = name
			if ev.viaFile {
				s, err := l.readSecret(text)
				if err != nil {
					l.atEnv(name, "%v", err)
					continue
				}
				*sv.p = s
				l.src[ev.path] = source{env: name, viaFile: true, secretFile: text}
				continue
			}
		}
		if err := ev.val.set(text); err != nil {
			l.atEnv(name, "%v", err)
			continue
		}
		l.src[ev.path] = source{env: name}
	}
}

// unknownEnv reports a VIGIL_<SECTION>_... variable that matches no key.
func (l *loader) unknownEnv(name string, fields []field, vars map[string]envVar) {
	rest := strings.TrimPrefix(name, "VIGIL_")
	for _, f := range fields {
		prefix := strings.ToUpper(f.key) + "_"
		if !strings.HasPrefix(rest, prefix) {
			continue
		}
		var valid []string
		for v := range vars {
			if strings.HasPrefix(v, "VIGIL_"+prefix) {
				valid = append(valid, v)
			}
		}
		slices.Sort(valid)
		hint := ""
		if s := closest(name, valid); s != "" {
			hint = " (did you mean " + s + "?)"
		}
		l.atEnv(name, "no such setting%s; the %s variables are %s", hint, f.key, strings.Join(valid, ", "))
		return
	}
}
