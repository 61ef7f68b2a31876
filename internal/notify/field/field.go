// Package field reports problems with fields of a receiver's
// configuration: each Error names the field's YAML key relative to the
// struct being validated, so that the configuration loader can place it
// at that key's line, and errors.Join gathers all of a struct's problems.
package field

import (
	"errors"
	"fmt"
)

// Error is a problem with one field.
type Error struct {
	// Field is the YAML key relative to the validated struct, such as
	// "url" or "headers[X-Token]".
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// FieldPath returns the field's key, for the configuration loader.
func (e *Error) FieldPath() string { return e.Field }

// Errorf returns an *Error for the field.
func Errorf(field, format string, args ...any) error {
	return &Error{Field: field, Err: fmt.Errorf(format, args...)}
}

// Wrap returns err as an *Error for the field, or nil when err is nil.
func Wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Field: field, Err: err}
}

// Errors gathers the problems of one struct.
type Errors []error

// Add appends err when it is not nil.
func (es *Errors) Add(err error) {
	if err != nil {
		*es = append(*es, err)
	}
}

// Addf appends an *Error for the field.
func (es *Errors) Addf(field, format string, args ...any) {
	*es = append(*es, Errorf(field, format, args...))
}

// Err returns the problems joined with errors.Join, one per line, or nil.
func (es Errors) Err() error { return errors.Join(es...) }
