package detect

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxMappingFile bounds a field mapping file.
const maxMappingFile = 1 << 20

// ReadFieldMapping reads a field mapping file and returns the default
// mapping with the file's entries added (an entry for a field the defaults
// map replaces them). The file maps event sources to rule field names to
// lists of native paths:
//
//	aws.cloudtrail:
//	  user: [userIdentity.arn, userIdentity.principalId]
//	gcp.audit:
//	  caller: [protoPayload.authenticationInfo.principalEmail]
func ReadFieldMapping(path string) (FieldMapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("field mapping: %w", err)
	}
	if len(data) > maxMappingFile {
		return nil, fmt.Errorf("field mapping %s: larger than %d KiB", path, maxMappingFile>>10)
	}
	var file map[string]map[string][]string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("field mapping %s: %w (want: source: {field: [path, ...]})", path, err)
	}
	sources := AllSources()
	m := DefaultFieldMapping()
	names := make([]string, 0, len(file))
	for src := range file {
		names = append(names, src)
	}
	sort.Strings(names)
	for _, src := range names {
		if !slices.Contains(sources, src) {
			return nil, fmt.Errorf("field mapping %s: unknown source %q: use one of %s", path, src, strings.Join(sources, ", "))
		}
		if m[src] == nil {
			m[src] = map[string][]string{}
		}
		for field, paths := range file[src] {
			if field == "" || len(paths) == 0 || slices.Contains(paths, "") {
				return nil, fmt.Errorf("field mapping %s: %s.%q needs one or more non-empty paths", path, src, field)
			}
			if strings.HasPrefix(field, "vigil.") {
				return nil, fmt.Errorf("field mapping %s: %s.%s: vigil.* names the envelope and cannot be mapped", path, src, field)
			}
			m[src][field] = paths
		}
	}
	return m, nil
}
