// Package digest computes SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104)
// for the files-only build.
//
// It exists for size alone. Importing crypto/sha256 links Go's whole FIPS
// 140 module into the binary: crypto/internal/boring needs crypto/cipher,
// which brings AES, SHA-3, SHA-512, HMAC and the DRBG together with their
// self-test registrations, about 150 kB of bin/hush-files for one Sum256
// call, over that build's size budget (docs/budgets.md). Nothing here is
// used to protect data in transit or at rest: hush keeps a digest to tell
// whether a secret changed, and `hush check --digest-key-file` prints a keyed
// digest so that two values can be compared without showing either. The
// tests check every function against crypto/sha256 and crypto/hmac.
//
// Backends that speak TLS link crypto/* anyway and may use crypto/sha256.
package digest

import (
	"encoding/binary"
	"math/bits"
)

const (
	// Size is the length of a SHA-256 digest in bytes.
	Size = 32
	// blockSize is SHA-256's block length in bytes.
	blockSize = 64
)

// initial is H(0), the first 32 bits of the fractional parts of the
// square roots of the first eight primes (FIPS 180-4, 5.3.3).
var initial = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// roundK is K, the first 32 bits of the fractional parts of the cube roots
// of the first 64 primes (FIPS 180-4, 4.2.2).
var roundK = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// Sum256 returns the SHA-256 digest of data.
func Sum256(data []byte) [Size]byte {
	h := newState()
	h.write(data)
	return h.sum()
}

// HMACSHA256 returns HMAC-SHA256 of msg under key (RFC 2104).
func HMACSHA256(key, msg []byte) [Size]byte {
	if len(key) > blockSize {
		k := Sum256(key)
		key = k[:]
	}
	var ipad, opad [blockSize]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range blockSize {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	inner := newState()
	inner.write(ipad[:])
	inner.write(msg)
	innerSum := inner.sum()
	outer := newState()
	outer.write(opad[:])
	outer.write(innerSum[:])
	return outer.sum()
}

// state is a running SHA-256 computation.
type state struct {
	h     [8]uint32
	buf   [blockSize]byte
	nbuf  int    // bytes waiting in buf
	total uint64 // bytes written so far
}

func newState() *state { return &state{h: initial} }

func (s *state) write(p []byte) {
	s.total += uint64(len(p))
	if s.nbuf > 0 {
		n := copy(s.buf[s.nbuf:], p)
		s.nbuf += n
		p = p[n:]
		if s.nbuf < blockSize {
			return
		}
		s.block(s.buf[:])
		s.nbuf = 0
	}
	for len(p) >= blockSize {
		s.block(p[:blockSize])
		p = p[blockSize:]
	}
	s.nbuf = copy(s.buf[:], p)
}

// sum pads the message (FIPS 180-4, 5.1.1) and returns the digest. It
// consumes s: nothing may be written after it.
func (s *state) sum() [Size]byte {
	bitLen := s.total * 8
	// A 1 bit, zeros up to 56 bytes into a block, then the length in bits.
	var pad [blockSize + 8]byte
	pad[0] = 0x80
	n := blockSize - 8 - int(s.total%blockSize)
	if n < 1 {
		n += blockSize
	}
	binary.BigEndian.PutUint64(pad[n:], bitLen)
	s.write(pad[:n+8])
	var out [Size]byte
	for i, v := range s.h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// block runs the compression function over one 64-byte block (FIPS 180-4,
// 6.2.2).
func (s *state) block(p []byte) {
	var w [64]uint32
	for i := range 16 {
		w[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	for i := 16; i < 64; i++ {
		s0 := bits.RotateLeft32(w[i-15], -7) ^ bits.RotateLeft32(w[i-15], -18) ^ w[i-15]>>3
		s1 := bits.RotateLeft32(w[i-2], -17) ^ bits.RotateLeft32(w[i-2], -19) ^ w[i-2]>>10
		w[i] = w[i-16] + s0 + w[i-7] + s1
	}
	a, b, c, d, e, f, g, h := s.h[0], s.h[1], s.h[2], s.h[3], s.h[4], s.h[5], s.h[6], s.h[7]
	for i := range 64 {
		t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) +
			(e&f ^ ^e&g) + roundK[i] + w[i]
		t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) +
			(a&b ^ a&c ^ b&c)
		h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	s.h[0] += a
	s.h[1] += b
	s.h[2] += c
	s.h[3] += d
	s.h[4] += e
	s.h[5] += f
	s.h[6] += g
	s.h[7] += h
}
