//go:build !noyaml

package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlToJSON reads a YAML document (the first one of a stream, as vals
// does) and returns it as JSON, so that a pointer selects from it exactly as
// from a JSON document. It uses gopkg.in/yaml.v3, the library and version
// vals reads files with, so that a value vals reads is the value hush reads:
// YAML 1.2 booleans (yes and on stay strings), merge keys, anchors and
// aliases (with the library's limits against alias bombs and deep nesting).
//
// Two choices differ from a plain decode, both to keep a secret's text as
// written: an unquoted timestamp stays the text it is (vals would print Go's
// time format), and a non-string value is rendered as compact JSON, as for a
// JSON document. Errors give a line number at most, never document text.
func yamlToJSON(raw []byte) (out []byte, err error) {
	// The decoder has had panics on hostile input; a PID 1 must not.
	defer func() {
		if recover() != nil {
			out, err = nil, errors.New("the decoder failed")
		}
	}()
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, yamlSyntaxError(err)
	}
	if len(root.Content) == 0 {
		return nil, errors.New("empty document")
	}
	keepTimestampText(&root)
	var v any
	if err := root.Decode(&v); err != nil {
		return nil, yamlSyntaxError(err)
	}
	jv, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<&>" stays as written in compact output
	if err := enc.Encode(jv); err != nil {
		return nil, errors.New("cannot be represented as JSON")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// keepTimestampText makes timestamps decode as the text written.
func keepTimestampText(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		keepTimestampText(c)
	}
}

// jsonValue turns what yaml.v3 decodes into what encoding/json can write
// without changing it: keys that are not strings are formatted (a key 1 is
// "1", as vals does), and what JSON cannot hold is an error rather than a
// silently different value.
func jsonValue(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, int, int64, uint64:
		return t, nil
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil, errors.New("it holds .inf or .nan, which JSON cannot represent")
		}
		return t, nil
	case string:
		if !utf8.ValidString(t) {
			return nil, errors.New("it holds binary data that is not UTF-8 text")
		}
		return t, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			var err error
			if out[i], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if !utf8.ValidString(k) {
				return nil, errors.New("it holds a key that is not UTF-8 text")
			}
			var err error
			if out[k], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			key := fmt.Sprint(k)
			if _, dup := out[key]; dup || !utf8.ValidString(key) {
				return nil, errors.New("it holds keys that are the same once written as text")
			}
			var err error
			if out[key], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("it holds a value of type %T, which JSON cannot represent", v)
}

// yamlSyntaxError keeps the line number of a yaml.v3 error and drops the
// rest: some of its messages quote the document.
func yamlSyntaxError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		j := i + len("line ")
		k := j
		for k < len(msg) && '0' <= msg[k] && msg[k] <= '9' {
			k++
		}
		if k > j {
			return fmt.Errorf("error at line %s", msg[j:k])
		}
	}
	return errors.New("syntax error")
}
