package digest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// Known answers from FIPS 180-4's examples (NIST CSRC) and RFC 4231.
func TestSum256KnownAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"two blocks", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
			"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"one million a", strings.Repeat("a", 1_000_000),
			"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Sum256([]byte(tc.msg))
			if hex.EncodeToString(got[:]) != tc.want {
				t.Errorf("Sum256 = %x, want %s", got, tc.want)
			}
		})
	}
}

func TestHMACSHA256KnownAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		key, data []byte
		want      string
	}{
		{"RFC 4231 case 1", bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"),
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"RFC 4231 case 2", []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"RFC 4231 case 6 (key longer than a block)", bytes.Repeat([]byte{0xaa}, 131),
			[]byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := HMACSHA256(tc.key, tc.data)
			if hex.EncodeToString(got[:]) != tc.want {
				t.Errorf("HMACSHA256 = %x, want %s", got, tc.want)
			}
		})
	}
}

// Every message length up to a few blocks, so that every padding case (the
// length fitting in the last block or needing one more) is met, written in
// one piece and in random pieces.
func TestSum256MatchesCryptoSHA256(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	msg := make([]byte, 4*blockSize+1)
	for i := range msg {
		msg[i] = byte(rng.Uint32())
	}
	for n := range len(msg) + 1 {
		want := sha256.Sum256(msg[:n])
		if got := Sum256(msg[:n]); got != want {
			t.Fatalf("Sum256 of %d bytes = %x, want %x", n, got, want)
		}
		h := newState()
		for rest := msg[:n]; len(rest) > 0; {
			k := rng.IntN(len(rest) + 1)
			h.write(rest[:k])
			rest = rest[k:]
		}
		if got := h.sum(); got != want {
			t.Fatalf("%d bytes written in pieces: %x, want %x", n, got, want)
		}
	}
}

func TestHMACSHA256MatchesCryptoHMAC(t *testing.T) {
	t.Parallel()
	for _, keyLen := range []int{0, 1, 16, 32, 63, 64, 65, 128, 200} {
		for _, msgLen := range []int{0, 1, 55, 56, 64, 1000} {
			key := bytes.Repeat([]byte{byte(keyLen + 1)}, keyLen)
			msg := bytes.Repeat([]byte{byte(msgLen)}, msgLen)
			want := hmac.New(sha256.New, key)
			want.Write(msg)
			if got := HMACSHA256(key, msg); !bytes.Equal(got[:], want.Sum(nil)) {
				t.Errorf("HMACSHA256(%d-byte key, %d-byte message) differs from crypto/hmac", keyLen, msgLen)
			}
		}
	}
}

func FuzzSum256(f *testing.F) {
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("key"), []byte("abc"))
	f.Add(bytes.Repeat([]byte{1}, 65), bytes.Repeat([]byte{2}, 120))
	f.Fuzz(func(t *testing.T, key, msg []byte) {
		if got, want := Sum256(msg), sha256.Sum256(msg); got != want {
			t.Fatalf("Sum256(%x) = %x, want %x", msg, got, want)
		}
		want := hmac.New(sha256.New, key)
		want.Write(msg)
		if got := HMACSHA256(key, msg); !bytes.Equal(got[:], want.Sum(nil)) {
			t.Fatalf("HMACSHA256(%x, %x) differs from crypto/hmac", key, msg)
		}
	})
}
