// Package crypto owns Parley's long-term identity: the Ed25519 key kept in the home
// directory (private to the user: see internal/osfile), the display name stored beside it, and the fingerprints two
// people read to each other to check that they are talking to the right key.
//
// Files in the home directory:
//
//	identity.key   the libp2p-marshalled private key, base64, mode 0600 (Windows: an
//	               owner-only DACL); refused when others can read it
//	identity.json  {"name": "..."}: the display name, created the same way
package crypto
