// Package dialplan carries the Asterisk configuration a PBX includes to hand
// calls to transferd. The .conf files in this directory are the product: an
// administrator copies them next to extensions.conf; the embedded copy lets
// transferd's own tools (the sandbox, `transferd dialplan`) install exactly
// the same text.
package dialplan

import "embed"

// Files holds every .conf file of this directory, by base name.
//
//go:embed *.conf
var Files embed.FS
