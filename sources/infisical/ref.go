package infisical

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Query parameters of a reference. The first five are vals' (project,
// project_id, environment, path, type, version); expand and include_imports
// are the Infisical CLI's --expand and --include-imports.
const (
	paramProject     = "project"     // project slug
	paramProjectID   = "project_id"  // project ID
	paramEnvironment = "environment" // environment slug: dev, prod, ...
	paramPath        = "path"        // folder, default "/"
	paramType        = "type"        // only "shared"
	paramVersion     = "version"     // pin a version: one single-secret read, never polled
	paramExpand      = "expand"      // expand ${...} secret references server-side (default true)
	paramImports     = "include_imports"
)

var knownParams = []string{paramEnvironment, paramExpand, paramImports, paramPath, paramProject, paramProjectID, paramType, paramVersion}

// Environment variables that give a reference its defaults, as the Infisical
// CLI reads them.
const (
	envProjectID   = "INFISICAL_PROJECT_ID"
	envEnvironment = "INFISICAL_ENVIRONMENT"
)

// folder identifies one list call: every reference to a key of the same
// folder (same project, environment, path and list options) is served by
// one GET /api/v3/secrets/raw.
type folder struct {
	ProjectID   string
	ProjectSlug string
	Environment string
	Path        string
	Expand      bool
	Imports     bool
}

func (f folder) String() string {
	project := f.ProjectID
	if project == "" {
		project = "slug " + f.ProjectSlug
	}
	return fmt.Sprintf("project %s, environment %s, folder %s", project, f.Environment, f.Path)
}

// target is what one reference reads: one key of a folder, or one pinned
// version of a key.
type target struct {
	Folder  folder
	Key     string
	Version int // 0: the current value, from the folder's list
}

// parseTarget reads a reference's path (the secret key) and query, filling
// the project and environment from INFISICAL_PROJECT_ID and
// INFISICAL_ENVIRONMENT when the reference leaves them out. It follows vals'
// provider: ref+infisical://KEY?project_id=ID&environment=ENV&path=/folder.
func parseTarget(key string, q url.Values, getenv func(string) string) (target, error) {
	var t target
	if err := checkParams(q); err != nil {
		return t, err
	}
	if err := checkKey(key); err != nil {
		return t, err
	}
	t.Key = key

	t.Folder.ProjectID = q.Get(paramProjectID)
	t.Folder.ProjectSlug = q.Get(paramProject)
	switch {
	case t.Folder.ProjectID != "" && t.Folder.ProjectSlug != "":
		return t, errors.New("give project (a slug) or project_id, not both")
	case t.Folder.ProjectID == "" && t.Folder.ProjectSlug == "":
		t.Folder.ProjectID = strings.TrimSpace(getenv(envProjectID))
		if t.Folder.ProjectID == "" {
			return t, fmt.Errorf("no project: add ?%s=ID (or ?%s=SLUG) or set %s", paramProjectID, paramProject, envProjectID)
		}
	}
	t.Folder.Environment = q.Get(paramEnvironment)
	if t.Folder.Environment == "" {
		t.Folder.Environment = strings.TrimSpace(getenv(envEnvironment))
		if t.Folder.Environment == "" {
			return t, fmt.Errorf("no environment: add ?%s=SLUG (dev, prod, ...) or set %s", paramEnvironment, envEnvironment)
		}
	}
	t.Folder.Path = cleanFolder(q.Get(paramPath))

	switch typ := q.Get(paramType); typ {
	case "", "shared":
	case "personal":
		return t, errors.New("type=personal: personal secrets belong to users, and hush logs in as a machine identity; only shared secrets can be read")
	default:
		return t, fmt.Errorf("type=%q: want shared", typ)
	}
	if v, ok := q[paramVersion]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 {
			return t, fmt.Errorf("version=%q: want a version number (1, 2, ...)", v[0])
		}
		t.Version = n
	}
	var err error
	if t.Folder.Expand, err = boolParam(q, paramExpand, true); err != nil {
		return t, err
	}
	if t.Folder.Imports, err = boolParam(q, paramImports, true); err != nil {
		return t, err
	}
	return t, nil
}

// checkParams rejects unknown and repeated parameters, so that a typo is an
// error before anything is read instead of a silently different secret.
func checkParams(q url.Values) error {
	var unknown []string
	for k, v := range q {
		if !isKnown(k) {
			unknown = append(unknown, strconv.Quote(k))
			continue
		}
		if len(v) > 1 {
			return fmt.Errorf("query parameter %q given more than once", k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown query parameter %s (the infisical backend takes %s, besides optional and as)",
			strings.Join(unknown, ", "), strings.Join(knownParams, ", "))
	}
	return nil
}

func isKnown(k string) bool {
	for _, p := range knownParams {
		if p == k {
			return true
		}
	}
	return false
}

// checkKey accepts a secret key as Infisical names them. A "/" means the
// reference was written path-style (PROJECT/ENV/FOLDER/KEY); vals' form puts
// the folder in ?path=.
func checkKey(key string) error {
	if key == "" {
		return errors.New("empty secret key")
	}
	if strings.Contains(key, "/") {
		return fmt.Errorf("%q is not a secret key: the reference path is the key alone and the folder goes in ?path= "+
			"(ref+infisical://KEY?project_id=ID&environment=ENV&path=/folder, as in vals)", key)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e || c == '?' || c == '#' || c == '%' {
			return fmt.Errorf("secret key %q: only printable ASCII without ?, # and %%", key)
		}
	}
	return nil
}

// cleanFolder normalises a folder path the way the server does (leading
// slash, no trailing slash), so that path=app, path=/app and path=/app/ are
// one folder and one list call.
func cleanFolder(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}

func boolParam(q url.Values, name string, def bool) (bool, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	switch v[0] {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q: want true or false", name, v[0])
}
