package config

import "github.com/vigil-sec/vigil/internal/secret"

// Secret is a string that never prints; see package secret.
type Secret = secret.Secret

// redacted is what a Secret prints as.
const redacted = secret.Redacted

// readSecretFile reads a secret from a regular file; see secret.ReadFile.
func readSecretFile(path string) (Secret, error) { return secret.ReadFile(path) }

// checkSecret reports why s is unusable as a secret, without quoting it.
func checkSecret(s Secret) string { return secret.Check(s) }
