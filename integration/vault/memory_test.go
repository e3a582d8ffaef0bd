package vault

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A big Vault answer must not multiply in hush's memory (issue 10, item
// 12): hush is PID 1 for the container's whole life, and a 7 MB secret once
// took it to 193 MB. The secret here is seventy fields of 100 KB each
// (each small enough for an environment variable), three of them
// referenced; hush's peak
// resident memory (VmHWM, read once the child runs) must stay within a
// small multiple of the answer's size on top of what hush uses anyway.
// This measures memory, not time: it does not depend on the machine's load.
func TestBigSecretMemory(t *testing.T) {
	t.Parallel()
	const fields, fieldSize = 70, 100 << 10
	path := "secret/big-" + randomHex(4) + "/app"
	data := map[string]any{}
	for i := range fields {
		data[fmt.Sprintf("k%d", i)] = strings.Repeat(string(rune('a'+i%26)), fieldSize)
	}
	shared.kvPut(t, path, data)
	answer := fields * fieldSize

	peak := func(t *testing.T, refs ...string) int {
		out := childFile(t)
		env := append(shared.env(), refs...)
		// The child reports hush's peak memory (its parent's), then waits.
		child := []string{"sh", "-c", `grep VmHWM /proc/$PPID/status > ` + out + `; exec sleep 100000`}
		r := startHush(t, env, nil, child...)
		got := r.waitLines(out, 1)
		fields := strings.Fields(got[0]) // VmHWM: N kB
		kb, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatalf("VmHWM line %q", got[0])
		}
		return kb << 10
	}
	base := peak(t, "SMALL=ref+vault://"+newKVFixture(t).v2+"#/user")
	big := peak(t, "A=ref+vault://"+path+"#/k0", "B=ref+vault://"+path+"#/k3", "C=ref+vault://"+path+"#/k69")
	t.Logf("peak RSS: %d KiB with a small secret, %d KiB with a %d KiB answer (%.1fx the answer on top)",
		base>>10, big>>10, answer>>10, float64(big-base)/float64(answer))
	if os.Getenv("HUSH_MEMORY_REPORT") != "" {
		fmt.Fprintf(os.Stderr, "memory: base %d KiB, big %d KiB, answer %d KiB\n", base>>10, big>>10, answer>>10)
	}
	if limit := base + 6*answer; big > limit {
		t.Errorf("peak RSS %d KiB with a %d KiB answer: more than %d KiB (6x the answer on top of %d KiB)",
			big>>10, answer>>10, limit>>10, base>>10)
	}
}
