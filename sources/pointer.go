package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ApplyPointer selects the value at an RFC 6901 JSON pointer in doc. An
// empty pointer returns doc unchanged (it need not be JSON). A document that
// is not JSON is read as YAML, as vals reads every document it points into
// (see yamlToJSON). A string is returned as its decoded text, any other value
// as compact JSON. When the pointer goes on past a string that itself holds
// a JSON or YAML object or array (a Vault field or an Infisical value
// holding a configuration file), it goes on inside that document. A missing
// member or an index past the end returns an error wrapping ErrNotFound, so
// that an optional reference treats it as missing.
//
// Errors describe positions and types, never content: encoding/json's own
// messages quote document characters, so they are replaced, not wrapped.
func ApplyPointer(doc Secret, ptr string) (Secret, error) {
	if ptr == "" {
		return doc, nil
	}
	tokens, err := parsePointer(ptr)
	if err != nil {
		return Secret{}, err
	}
	cur, err := parseDocument(doc.Bytes())
	if err != nil {
		return Secret{}, err
	}
	at := "" // the pointer to cur, for messages
	for _, tok := range tokens {
		next := at + "/" + escapeToken(tok)
		kind := jsonKind(cur)
		if kind == "string" {
			if inner, ok := documentInString(cur); ok {
				cur, kind = inner, jsonKind(inner)
			}
		}
		// Members and elements are found by scanning the (valid)
		// document in place: decoding each level into a map would copy
		// the whole document once per step and per reference.
		switch kind {
		case "object":
			v, ok, err := member(cur, tok)
			if err != nil {
				return Secret{}, fmt.Errorf("JSON pointer %q: cannot decode %s", ptr, where(at))
			}
			if !ok {
				return Secret{}, NotFound(fmt.Errorf("JSON pointer %q: %s has no member %q", ptr, where(at), tok))
			}
			cur = v
		case "array":
			i, err := arrayIndex(tok)
			if err != nil {
				return Secret{}, fmt.Errorf("JSON pointer %q: %s is an array: %w", ptr, where(at), err)
			}
			v, n := element(cur, i)
			if v == nil {
				return Secret{}, NotFound(fmt.Errorf("JSON pointer %q: %s has no index %s (length %d)", ptr, where(at), tok, n))
			}
			cur = v
		default:
			return Secret{}, fmt.Errorf("JSON pointer %q: %s is %s %s, not an object or array", ptr, where(at), article(kind), kind)
		}
		at = next
	}

	if jsonKind(cur) == "string" {
		var s string
		if err := json.Unmarshal(cur, &s); err != nil {
			return Secret{}, fmt.Errorf("JSON pointer %q: cannot decode the string", ptr)
		}
		return NewSecret([]byte(s)), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, cur); err != nil {
		return Secret{}, fmt.Errorf("JSON pointer %q: cannot compact the value", ptr)
	}
	return NewSecret(buf.Bytes()), nil
}

// errNoYAML is what a pointer into a document that is not JSON gives in a
// build without YAML support (build tag noyaml).
var errNoYAML = errors.New("this build of hush reads JSON documents only (built with the noyaml tag; bin/hush and bin/hush-vault read YAML)")

// parseDocument returns raw as JSON: as it is when it is JSON, converted
// when it is YAML.
func parseDocument(raw []byte) (json.RawMessage, error) {
	if json.Valid(raw) {
		return raw, nil
	}
	converted, err := yamlToJSON(raw)
	switch {
	case errors.Is(err, errNoYAML):
		return nil, fmt.Errorf("%v; %w", invalidJSON(raw), err)
	case err != nil:
		return nil, fmt.Errorf("%v, and as YAML: %v", invalidJSON(raw), err)
	}
	return converted, nil
}

// documentInString returns the JSON or YAML object or array that the JSON
// string s holds, if it holds one.
func documentInString(s json.RawMessage) (json.RawMessage, bool) {
	var text string
	if err := json.Unmarshal(s, &text); err != nil {
		return nil, false
	}
	doc, err := parseDocument([]byte(text))
	if err != nil {
		return nil, false
	}
	if k := jsonKind(doc); k != "object" && k != "array" {
		return nil, false
	}
	return doc, true
}

// JSONMember returns the value of key in a JSON object, as a slice of it,
// without decoding the rest: what a backend needs to look into a big
// document. A document that is not a valid JSON object is an error.
func JSONMember(obj []byte, key string) ([]byte, bool, error) {
	if !json.Valid(obj) || jsonKind(obj) != "object" {
		return nil, false, errors.New("not a JSON object")
	}
	return member(obj, key)
}

// member returns the value of key in a valid JSON object, as a slice of
// it; like encoding/json, the last of duplicate keys wins.
func member(obj []byte, key string) (json.RawMessage, bool, error) {
	obj = bytes.TrimSpace(obj)
	var found json.RawMessage
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] != '}' {
		kEnd := endOfString(obj, i)
		rawKey := obj[i:kEnd]
		i = skipSpace(obj, kEnd) + 1 // past ':'
		i = skipSpace(obj, i)
		vEnd := endOfValue(obj, i)
		match := false
		// A key without escapes and in valid UTF-8 is its own text;
		// otherwise decode it as encoding/json does (invalid bytes
		// become U+FFFD).
		if bytes.IndexByte(rawKey, '\\') < 0 && utf8.Valid(rawKey) {
			match = string(rawKey[1:len(rawKey)-1]) == key
		} else {
			var k string
			if err := json.Unmarshal(rawKey, &k); err != nil {
				return nil, false, err
			}
			match = k == key
		}
		if match {
			found = obj[i:vEnd]
		}
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return found, found != nil, nil
}

// element returns element idx of a valid JSON array as a slice of it, or
// nil and the array's length.
func element(arr []byte, idx int) (json.RawMessage, int) {
	arr = bytes.TrimSpace(arr)
	n := 0
	i := skipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		end := endOfValue(arr, i)
		if n == idx {
			return arr[i:end], n
		}
		n++
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return nil, n
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index after the string starting at b[i] ('"').
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// endOfValue returns the index after the value starting at b[i].
func endOfValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = endOfString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i // a number, true, false or null
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}

// parsePointer splits an RFC 6901 pointer into unescaped reference tokens.
func parsePointer(ptr string) ([]string, error) {
	if ptr == "" {
		return nil, nil
	}
	if ptr[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q: must be empty or start with \"/\"", ptr)
	}
	parts := strings.Split(ptr[1:], "/")
	for i, p := range parts {
		tok, err := unescapeToken(p)
		if err != nil {
			return nil, fmt.Errorf("JSON pointer %q: %w", ptr, err)
		}
		parts[i] = tok
	}
	return parts, nil
}

// unescapeToken decodes ~1 to "/" and ~0 to "~" in one left-to-right pass,
// so that "~01" is "~1" and not "/", as RFC 6901 section 4 requires.
func unescapeToken(p string) (string, error) {
	if !strings.Contains(p, "~") {
		return p, nil
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '~' {
			b.WriteByte(p[i])
			continue
		}
		if i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1') {
			return "", errors.New(`"~" must be followed by 0 or 1 (~0 is "~", ~1 is "/")`)
		}
		if p[i+1] == '0' {
			b.WriteByte('~')
		} else {
			b.WriteByte('/')
		}
		i++
	}
	return b.String(), nil
}

func escapeToken(tok string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
}

// arrayIndex parses an RFC 6901 array index: "0" or digits without a leading
// zero. An index too large for an int is out of range (-1), not malformed.
func arrayIndex(tok string) (int, error) {
	if tok == "-" {
		return 0, errors.New(`"-" names the element after the last, which cannot be read`)
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("%q is not an array index", tok)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, fmt.Errorf("%q is not an array index", tok)
		}
	}
	i, err := strconv.Atoi(tok)
	if err != nil {
		return -1, nil
	}
	return i, nil
}

// jsonKind names the type of a valid JSON value from its first byte.
func jsonKind(v []byte) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "empty value"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func article(kind string) string {
	if kind == "object" || kind == "array" || kind == "empty value" {
		return "an"
	}
	return "a"
}

func where(at string) string {
	if at == "" {
		return "the document"
	}
	return strconv.Quote(at)
}

// invalidJSON reports where a document stops being JSON without quoting any
// of it.
func invalidJSON(raw []byte) error {
	var se *json.SyntaxError
	if err := json.Unmarshal(raw, new(json.RawMessage)); errors.As(err, &se) {
		return fmt.Errorf("document is not valid JSON (syntax error at byte offset %d)", se.Offset)
	}
	return errors.New("document is not valid JSON")
}
