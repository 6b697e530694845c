package discovery

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Limits of the TXT advert (see the package doc).
const (
	TXTVersion      = "1"
	MaxTXTString    = 255 // bytes per TXT string (DNS limit)
	MaxAdvertAddrs  = 64  // dnsaddr strings per advert
	maxTXTStrings   = 128 // all strings, including unknown keys
	maxNameBytes    = MaxTXTString - len(keyName+"=")
	keyVersion      = "v"
	keyID           = "id"
	keyName         = "name"
	keyDNSAddr      = "dnsaddr"
	dnsaddrIDPrefix = "/p2p/"
)

// ErrInvalidTXT is wrapped by every error ParseTXT returns.
var ErrInvalidTXT = errors.New("invalid parley mDNS advert")

// EncodeTXT returns the advert's TXT strings: "v=1", "id=<peer ID>", "name=<name>" and one
// "dnsaddr=<addr>/p2p/<peer ID>" per address. The name is cleaned (see CleanName) and cut to fit.
// Addresses that are empty, duplicated, end in another peer's /p2p/ part, or do not fit in 255
// bytes are dropped, and at most 64 are kept, so ParseTXT accepts whatever EncodeTXT produces.
func EncodeTXT(id peer.ID, name string, addrs []ma.Multiaddr) []string {
	txt := []string{
		keyVersion + "=" + TXTVersion,
		keyID + "=" + id.String(),
		keyName + "=" + CleanName(name),
	}
	suffix := dnsaddrIDPrefix + id.String()
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if len(seen) == MaxAdvertAddrs {
			break
		}
		transport, owner := peer.SplitAddr(a)
		if len(transport) == 0 || (owner != "" && owner != id) {
			continue
		}
		s := keyDNSAddr + "=" + transport.String() + suffix
		if len(s) > MaxTXTString || seen[s] {
			continue
		}
		seen[s] = true
		txt = append(txt, s)
	}
	return txt
}

// CleanName makes a display name safe to show: invalid UTF-8 and control characters are
// removed, surrounding space trimmed, and the result cut at a character boundary to fit in a
// TXT string.
func CleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	name = strings.TrimSpace(name)
	for len(name) > maxNameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// ParseTXT reads an advert made by EncodeTXT. It checks the version, that id= is a peer ID,
// that every dnsaddr parses as a multiaddr ending in /p2p/ of that same peer, and the limits
// (strings of at most 255 bytes, at most 64 addresses, at least one). The returned Peer's Addrs
// have the /p2p/ part removed and duplicates dropped; Via is left empty for the caller to set.
// Every error wraps ErrInvalidTXT.
func ParseTXT(txt []string) (Peer, error) {
	f, err := splitTXT(txt)
	if err != nil {
		return Peer{}, err
	}
	if f.version != TXTVersion {
		return Peer{}, invalid("unsupported version v=%q (want %s)", f.version, TXTVersion)
	}
	id, err := peer.Decode(f.id)
	if err != nil {
		return Peer{}, invalid("id=%q is not a peer ID: %v", f.id, err)
	}
	addrs, err := parseDNSAddrs(id, f.dnsaddrs)
	if err != nil {
		return Peer{}, err
	}
	return Peer{ID: id, Name: CleanName(f.name), Addrs: addrs}, nil
}

// txtFields are the raw values of the keys ParseTXT knows.
type txtFields struct {
	version, id, name string
	dnsaddrs          []string
}

// splitTXT sorts the strings by key and enforces the size limits and the required keys.
func splitTXT(txt []string) (txtFields, error) {
	var f txtFields
	if len(txt) > maxTXTStrings {
		return f, invalid("%d TXT strings (max %d)", len(txt), maxTXTStrings)
	}
	seen := map[string]bool{}
	for _, s := range txt {
		if len(s) > MaxTXTString {
			return f, invalid("TXT string of %d bytes (max %d)", len(s), MaxTXTString)
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(k)
		switch k {
		case keyVersion, keyID, keyName:
			if seen[k] {
				return f, invalid("key %q repeated", k)
			}
			seen[k] = true
		}
		switch k {
		case keyVersion:
			f.version = v
		case keyID:
			f.id = v
		case keyName:
			f.name = v
		case keyDNSAddr:
			if len(f.dnsaddrs) == MaxAdvertAddrs {
				return f, invalid("more than %d dnsaddr strings", MaxAdvertAddrs)
			}
			f.dnsaddrs = append(f.dnsaddrs, v)
		}
	}
	switch {
	case !seen[keyVersion]:
		return f, invalid("no v= (not a parley advert?)")
	case !seen[keyID]:
		return f, invalid("no id=")
	case len(f.dnsaddrs) == 0:
		return f, invalid("no dnsaddr=")
	}
	return f, nil
}

// parseDNSAddrs parses "<multiaddr>/p2p/<id>" values, checks the peer ID and strips it.
func parseDNSAddrs(id peer.ID, values []string) ([]ma.Multiaddr, error) {
	addrs := make([]ma.Multiaddr, 0, len(values))
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		m, err := ma.NewMultiaddr(v)
		if err != nil {
			return nil, invalid("dnsaddr=%q: %v", v, err)
		}
		transport, owner := peer.SplitAddr(m)
		switch {
		case owner == "":
			return nil, invalid("dnsaddr=%q does not end in /p2p/<peer ID>", v)
		case owner != id:
			return nil, invalid("dnsaddr=%q is for peer %s, not id=%s", v, owner, id)
		case len(transport) == 0:
			return nil, invalid("dnsaddr=%q has no transport address", v)
		}
		if key := string(transport.Bytes()); !seen[key] {
			seen[key] = true
			addrs = append(addrs, transport)
		}
	}
	return addrs, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidTXT}, args...)...)
}
