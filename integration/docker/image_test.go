package docker

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestHushImage checks the image ./Dockerfile publishes: hush and nothing
// else, runnable as is, the same bytes as the binary it packaged. Every
// other test uses it through Dockerfile.example's
// `COPY --from=${HUSH_IMAGE} /usr/local/bin/hush /usr/local/bin/hush`.
func TestHushImage(t *testing.T) {
	needDocker(t)
	t.Parallel()

	// CMD ["version"]: running the image prints hush's version.
	out := docker(t, "run", "--rm", "--label", label, hushImage)
	if !strings.Contains(out, "hush") {
		t.Errorf("docker run %s printed %q, want hush's version", hushImage, out)
	}

	var config []struct {
		Config struct {
			Entrypoint []string
			Cmd        []string
			Env        []string
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", hushImage)), &config); err != nil || len(config) != 1 {
		t.Fatalf("docker image inspect: %v", err)
	}
	if got := strings.Join(config[0].Config.Entrypoint, " "); got != "/usr/local/bin/hush" {
		t.Errorf("Entrypoint = %q, want /usr/local/bin/hush", got)
	}

	want, err := os.ReadFile(hushBin)
	if err != nil {
		t.Fatal(err)
	}
	files := imageFiles(t, hushImage)
	if len(files) != 1 {
		names := make([]string, 0, len(files))
		for name := range files {
			names = append(names, name)
		}
		t.Fatalf("the image holds %d files %v, want exactly usr/local/bin/hush", len(files), names)
	}
	if got, ok := files["usr/local/bin/hush"]; !ok || !bytes.Equal(got, want) {
		t.Errorf("usr/local/bin/hush in the image (%d bytes) is not %s (%d bytes)", len(got), hushBin, len(want))
	}
}
