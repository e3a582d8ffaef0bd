package docker

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// copyHostNode copies the host's node and npm under root, each file at its
// path on the host, so that `COPY rootfs/ /` puts them where they run:
//
//   - node (found on $PATH) and every shared library it links, as ldd
//     lists them, the dynamic loader included. Libraries are copied as the
//     files their links point to, under the names ldd gives. A node built
//     against the system ICU lists libicudata there, which is where that
//     build's ICU data lives; the nodesource build on hush's test machines
//     embeds it, and opens nothing else at run time (checked with strace)
//     but optional configuration (/etc/ssl/openssl.cnf, time zones).
//   - npm's package directory, as the nodejs package installs it (bundled
//     with its dependencies), and the npm command's link into it.
//
// The copies are made at every run, into the test's scratch directory: no
// binary is kept in the repository, and the image matches the host.
func copyHostNode(root string) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node not found (Debian: nodejs): %w", err)
	}
	libs, err := sharedLibraries(node)
	if err != nil {
		return err
	}
	for _, f := range append([]string{node}, libs...) {
		if err := copyResolved(f, filepath.Join(root, f)); err != nil {
			return err
		}
	}

	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm not found (nodesource's nodejs bundles it): %w", err)
	}
	script, err := filepath.EvalSymlinks(npm)
	if err != nil {
		return err
	}
	// npm is a link to <package>/bin/npm-cli.js.
	pkg := filepath.Dir(filepath.Dir(script))
	if _, err := os.Stat(filepath.Join(pkg, "node_modules")); err != nil {
		return fmt.Errorf("npm's package %s does not bundle its dependencies (%w); "+
			"the tests' image needs a self-contained npm, as nodesource's nodejs installs it", pkg, err)
	}
	if err := copyTree(pkg, filepath.Join(root, pkg)); err != nil {
		return err
	}
	return copyEntry(npm, filepath.Join(root, npm))
}

// sharedLibraries lists the files ldd says bin loads: the path after "=>",
// and the dynamic loader, the one line that starts with a path.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
			return nil, fmt.Errorf("ldd %s: %s is not found", bin, f[0])
		case len(f) >= 3 && f[1] == "=>" && filepath.IsAbs(f[2]):
			libs = append(libs, f[2])
		case len(f) >= 1 && filepath.IsAbs(f[0]):
			libs = append(libs, f[0])
		}
		// Anything else is the vDSO, which the kernel provides.
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no library, not even the loader:\n%s", bin, out)
	}
	return libs, nil
}

// copyResolved copies the file that from is, or links to, to the path to,
// keeping its mode.
func copyResolved(from, to string) error {
	info, err := os.Stat(from)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", from)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return copyFile(from, to, info.Mode().Perm())
}

// copyTree copies the directory from to to: directories, regular files
// and symbolic links (as links), with their modes.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		return copyEntry(path, filepath.Join(to, rel))
	})
}

// copyEntry copies one directory entry, not following a link.
func copyEntry(from, to string) error {
	info, err := os.Lstat(from)
	if err != nil {
		return err
	}
	switch mode := info.Mode(); {
	case mode.IsDir():
		return os.MkdirAll(to, mode.Perm())
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.Symlink(target, to)
	case mode.IsRegular():
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return copyFile(from, to, mode.Perm())
	default:
		return fmt.Errorf("%s: cannot copy a %v", from, mode.Type())
	}
}
