package sources

// ParseRef lets this package's external tests parse one reference. hush
// itself parses references only through Scan, which other packages' tests
// use too.
var ParseRef = parseRef
