package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// A finding is one place in an image where a secret was found.
type finding struct {
	where  string // "docker history", "image config", "layer", "docker save"
	detail string // the file, layer or line
	form   string // how the secret was written: "raw" or "base64"
}

func (f finding) String() string { return fmt.Sprintf("%s: %s (%s)", f.where, f.detail, f.form) }

// scanImage looks for secret everywhere an image can carry it:
//
//   - `docker history --no-trunc` (RUN lines, ARG values);
//   - `docker image inspect` (ENV, labels, the config's history);
//   - every file `docker save` writes: the config and manifests, and every
//     file in every layer tarball — contents, names, link targets and
//     extended attributes.
//
// It looks for the raw bytes and for their base64 encoding (as build
// metadata may store arguments), at each of the three alignments base64
// can give a substring.
func scanImage(t *testing.T, image, secret string) []finding {
	t.Helper()
	needles := encodings(secret)
	var found []finding
	check := func(where, detail string, data []byte) {
		for _, n := range needles {
			if bytes.Contains(data, n.bytes) {
				found = append(found, finding{where: where, detail: detail, form: n.form})
			}
		}
	}
	for _, line := range strings.Split(docker(t, "history", "--no-trunc", image), "\n") {
		check("docker history", strings.Join(strings.Fields(line), " "), []byte(line))
	}
	check("image config", "docker image inspect "+image, []byte(docker(t, "image", "inspect", image)))
	walkSave(t, image,
		func(name string, data []byte) { check("docker save", name, data) },
		func(layer string, hdr *tar.Header, data []byte) {
			meta := hdr.Name + "\x00" + hdr.Linkname
			for k, v := range hdr.PAXRecords {
				meta += "\x00" + k + "=" + v
			}
			check("layer", layer+": "+hdr.Name, append([]byte(meta+"\x00"), data...))
		})
	return found
}

type needle struct {
	form  string
	bytes []byte
}

// encodings are the forms scanImage looks for. A base64 encoding of a
// longer text that contains the secret holds one of three substrings,
// depending on the secret's offset modulo 3; each is the encoding of the
// secret after 0, 1 or 2 bytes, minus the first and last 4-character groups,
// which depend on the neighbouring bytes.
func encodings(secret string) []needle {
	out := []needle{{"raw", []byte(secret)}}
	for pad := 0; pad < 3; pad++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), secret...))
		if len(enc) > 8 {
			out = append(out, needle{"base64", []byte(enc[4 : len(enc)-4])})
		}
	}
	return out
}

// walkSave streams `docker save image` and calls meta for each file of the
// archive that is not a layer (config, manifests), and file for each entry
// of each layer, uncompressed. It understands both the Docker layout
// (ID/layer.tar, engines before 25) and the OCI layout (blobs/sha256/...),
// by looking at the content, not the name.
func walkSave(t *testing.T, image string, meta func(name string, data []byte), file func(layer string, hdr *tar.Header, data []byte)) {
	t.Helper()
	cmd := exec.Command("docker", "save", image)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	outer := tar.NewReader(stdout)
	layers := 0
	for {
		hdr, err := outer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("docker save %s: reading the archive: %v\n%s", image, err, stderr.String())
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(outer)
		if err != nil {
			t.Fatalf("docker save %s: %s: %v", image, hdr.Name, err)
		}
		layer, ok := asTar(data)
		if !ok {
			meta(hdr.Name, data)
			continue
		}
		layers++
		inner := tar.NewReader(layer)
		for {
			ih, err := inner.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				// A layer the scanner cannot read is a layer it did
				// not scan: fail rather than pass.
				t.Fatalf("docker save %s: layer %s: %v", image, hdr.Name, err)
			}
			content, err := io.ReadAll(inner)
			if err != nil {
				t.Fatalf("docker save %s: layer %s: %s: %v", image, hdr.Name, ih.Name, err)
			}
			file(hdr.Name, ih, content)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker save %s: %v\n%s", image, err, stderr.String())
	}
	if layers == 0 {
		t.Fatalf("docker save %s: no layer found: the scanner would pass without looking", image)
	}
}

// asTar recognises a layer: a tar archive, possibly gzip-compressed.
func asTar(data []byte) (io.Reader, bool) {
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, false
		}
		br := bufio.NewReaderSize(zr, 1024)
		head, _ := br.Peek(512)
		return br, isTarHeader(head)
	}
	return bytes.NewReader(data), isTarHeader(data)
}

func isTarHeader(b []byte) bool {
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}

// imageFiles returns the regular files of an image's layers, by path (a
// later layer's file replaces an earlier one's).
func imageFiles(t *testing.T, image string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	walkSave(t, image, func(string, []byte) {}, func(_ string, hdr *tar.Header, data []byte) {
		if hdr.Typeflag == tar.TypeReg {
			files[strings.TrimPrefix(path.Clean(hdr.Name), "/")] = data
		}
	})
	return files
}
