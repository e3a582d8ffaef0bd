package sources

import (
	"encoding/json"
	"testing"
)

// decodedLookup is what member and element replace: decoding a level into
// a map or a slice (a copy of the whole level) and picking from it.
func decodedLookup(doc []byte, tok string, array bool, idx int) (json.RawMessage, bool) {
	if array {
		var elems []json.RawMessage
		if json.Unmarshal(doc, &elems) != nil || idx < 0 || idx >= len(elems) {
			return nil, false
		}
		return elems[idx], true
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(doc, &members) != nil {
		return nil, false
	}
	v, ok := members[tok]
	return v, ok
}

// The in-place scan finds exactly what decoding finds, on any valid JSON:
// keys with escapes, duplicates, nesting, strings holding brackets and
// quotes, odd spacing.
func FuzzScanMatchesDecoding(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":{"c":[1,"]}"]},"a":2}`,
		` { "k\u00e9" : "x\"}" , "kk" : [ {}, [], "\\"] ] } `,
		`[1, {"a":"b"}, "c", [2]]`,
		`{"":null,"x":true,"y":false,"z":-1.5e3}`,
	} {
		f.Add(s, "a", 0)
		f.Add(s, "ké", 1)
		f.Add(s, "", 3)
	}
	f.Fuzz(func(t *testing.T, doc, key string, idx int) {
		if !json.Valid([]byte(doc)) {
			return
		}
		switch jsonKind([]byte(doc)) {
		case "object":
			got, ok, err := member([]byte(doc), key)
			want, wantOK := decodedLookup([]byte(doc), key, false, 0)
			if err != nil || ok != wantOK || string(got) != string(want) {
				t.Fatalf("member(%q, %q) = %q %v %v; decoding finds %q %v", doc, key, got, ok, err, want, wantOK)
			}
		case "array":
			got, _ := element([]byte(doc), idx)
			want, wantOK := decodedLookup([]byte(doc), "", true, idx)
			if (got != nil) != wantOK || string(got) != string(want) {
				t.Fatalf("element(%q, %d) = %q; decoding finds %q %v", doc, idx, got, want, wantOK)
			}
		}
	})
}
