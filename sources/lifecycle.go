package sources

import "context"

// CredentialUser is implemented by backends that authenticate with
// credentials found in hush's environment (VAULT_TOKEN, INFISICAL_TOKEN, the
// path variables that point at credential files, ...). UsedCredentials
// names the variables the backend actually used to log in — nothing when it
// was never used — so that hush removes exactly those from the child's
// environment: a manager hush did not use may be the application's own.
type CredentialUser interface {
	UsedCredentials() []string
}

// Closer is implemented by backends that hold something to give back when
// hush exits: leases to revoke, a token to revoke, background renewals to
// stop. Close must honour ctx.
type Closer interface {
	Close(ctx context.Context) error
}
