// Package remote is the toolkit the remote backends (Vault, Infisical)
// share, so that both follow one set of rules for what a PID 1 may do on
// the network with credentials in hand:
//
//   - a credential goes only to the origin (scheme, host, port) it was
//     configured for, never over a downgrade from https to http
//     (SameOrigin, the http.Client redirect policy);
//   - every answer, credential file and retry is bounded (LimitedBody,
//     ReadBody, ReadCredential, CheckToken, Backoff, Retry until the
//     caller's deadline);
//   - one login at a time (Gate);
//   - errors name the operation, the path and the status; what a server
//     said is quoted only through Quote, which bounds it and removes the
//     request's credentials and control characters (Vault's messages are
//     not quoted at all: they can echo request data, so they only pick a
//     fixed phrase);
//   - failed polls back off the same way (PollBackoff), and polls and
//     renewals are spread with jitter so that a fleet does not beat in step;
//   - per-backend settings follow one naming pattern, HUSH_<BACKEND>_<NAME>
//     (Setting), with the older names kept as aliases.
//
// Nothing here knows about Vault or Infisical.
package remote
