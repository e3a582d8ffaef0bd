// Package audit reads Vault's file audit log, which is how the Vault tests
// and the Vault Agent comparison count the requests a client really made.
package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// Request is one request entry of the log.
type Request struct {
	Path      string
	Operation string
	Display   string // the token's display name, unhashed
}

// Read returns every request entry of the log at path, in order. Response
// entries and lines that are not audit entries are skipped.
func Read(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Request
	sc := bufio.NewScanner(f)
	// An entry holds a whole request and response: lines can be long.
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			Type string `json:"type"`
			Auth struct {
				DisplayName string `json:"display_name"`
			} `json:"auth"`
			Request struct {
				Path      string `json:"path"`
				Operation string `json:"operation"`
			} `json:"request"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Type != "request" {
			continue
		}
		out = append(out, Request{Path: e.Request.Path, Operation: e.Request.Operation, Display: e.Auth.DisplayName})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
