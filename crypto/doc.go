// Package crypto owns Parley's long-term identity: the Ed25519 key kept in the home
// directory (mode 0600), the display name stored beside it, and the fingerprints two
// people read to each other to check that they are talking to the right key.
//
// Files in the home directory:
//
//	identity.key   the libp2p-marshalled private key, base64, mode 0600
//	identity.json  {"name": "..."}: the display name, mode 0600
package crypto
