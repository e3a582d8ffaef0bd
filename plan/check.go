package plan

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/hushinit/hush/internal/digest"
)

// MinDigestKey is the shortest key Check accepts for its digests: shorter
// keys can themselves be searched.
const MinDigestKey = 16

// maxDigestKey bounds the read of --digest-key-file: a key is a few dozen
// bytes.
const maxDigestKey = 4096

// ReadDigestKey reads the key of Check's digests from path
// (--digest-key-file), at most maxDigestKey bytes.
func ReadDigestKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDigestKey+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDigestKey {
		return nil, fmt.Errorf("%s: more than %d bytes; a key is a few dozen", path, maxDigestKey)
	}
	return b, nil
}

// Check resolves every reference and writes a table without values: name,
// backend, path, status and delivery, for every variable, whether or not it
// resolved, so that one run shows what works and what does not. It starts
// nothing and writes no secret file, so it is safe in CI and in a
// HEALTHCHECK.
//
// It prints nothing from which a value can be searched offline: no size and
// no plain digest. With digestKey (at least MinDigestKey bytes), it adds
// the first 64 bits of HMAC-SHA256(digestKey, value), so that deployments
// given the same key can be compared; whoever holds the key and the table
// can test guesses of a value, so the key must be kept like the secrets.
//
// The error joins one error per failed variable (and every bad reference).
func (p *Plan) Check(ctx context.Context, w io.Writer, digestKey []byte) error {
	if digestKey != nil && len(digestKey) < MinDigestKey {
		return fmt.Errorf("the digest key has %d bytes, fewer than %d", len(digestKey), MinDigestKey)
	}
	values, errs := p.resolve(ctx)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "VARIABLE\tBACKEND\tPATH\tSTATUS\tDELIVERY"
	if digestKey != nil {
		header += "\tHMAC-SHA256"
	}
	fmt.Fprintln(tw, header)
	for i, r := range p.reqs {
		status, keyed := "ok", "-"
		switch {
		case errs[i] != nil:
			status = "error"
		case values[i].Missing:
			status = "missing (optional)"
		case digestKey != nil:
			mac := digest.HMACSHA256(digestKey, values[i].Secret.Bytes())
			keyed = hex.EncodeToString(mac[:8])
		}
		delivery := "env"
		if p.AsFile(r.Ref) {
			delivery = "file"
		}
		// A value with references inside a longer text has a row per
		// reference; the digest is of the whole value.
		for _, ref := range r.Refs() {
			line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", r.Name, ref.Backend, ref.Path, status, delivery)
			if digestKey != nil {
				line += "\t" + keyed
			}
			fmt.Fprintln(tw, line)
		}
	}
	return errors.Join(append([]error{p.scanErr, tw.Flush()}, errs...)...)
}
