package discovery

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// testID returns a deterministic Ed25519 peer ID for seed.
func testID(tb testing.TB, seed string) peer.ID {
	tb.Helper()
	id, err := seedID(seed)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func seedID(seed string) (peer.ID, error) {
	sum := sha256.Sum256([]byte(seed))
	sk, _, err := crypto.GenerateEd25519Key(bytes.NewReader(sum[:]))
	if err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(sk)
}

func maddrs(tb testing.TB, ss ...string) []ma.Multiaddr {
	tb.Helper()
	out := make([]ma.Multiaddr, len(ss))
	for i, s := range ss {
		out[i] = ma.StringCast(s)
	}
	return out
}

func TestEncodeTXTGolden(t *testing.T) {
	id := testID(t, "alice") // Ed25519 key from a fixed seed, so the whole advert is fixed
	got := EncodeTXT(id, "Alice", maddrs(t, "/ip4/198.18.0.1/tcp/4001", "/ip4/198.18.0.1/udp/4001/quic-v1"))
	want := []string{
		"v=1",
		"id=12D3KooWQCkBm1BYtkHpocxCwMgR8yjitEeHGx8spzcDLGt2gkBm",
		"name=Alice",
		"dnsaddr=/ip4/198.18.0.1/tcp/4001/p2p/12D3KooWQCkBm1BYtkHpocxCwMgR8yjitEeHGx8spzcDLGt2gkBm",
		"dnsaddr=/ip4/198.18.0.1/udp/4001/quic-v1/p2p/12D3KooWQCkBm1BYtkHpocxCwMgR8yjitEeHGx8spzcDLGt2gkBm",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EncodeTXT:\n got %q\nwant %q", got, want)
	}
	p, err := ParseTXT(want)
	if err != nil || p.ID != id || p.Name != "Alice" || len(p.Addrs) != 2 {
		t.Fatalf("ParseTXT(golden) = %+v, %v", p, err)
	}
}

func TestTXTRoundTrip(t *testing.T) {
	id := testID(t, "bob")
	addrs := maddrs(t, "/ip4/198.18.0.2/tcp/4001", "/ip6/fe80::1/udp/4001/quic-v1", "/dns4/bob.example/tcp/443/wss")
	names := []string{"", "Bob", "Zoë Ødegård 東京", strings.Repeat("x", 400), strings.Repeat("é", 200)}
	for _, name := range names {
		p, err := ParseTXT(EncodeTXT(id, name, addrs))
		if err != nil {
			t.Fatalf("name %q: %v", name, err)
		}
		if p.ID != id || p.Name != CleanName(name) || p.Via != "" {
			t.Errorf("got %+v, want id %s name %q", p, id, CleanName(name))
		}
		if len(p.Addrs) != len(addrs) {
			t.Fatalf("addrs: got %v want %v", p.Addrs, addrs)
		}
		for i := range addrs {
			if !p.Addrs[i].Equal(addrs[i]) {
				t.Errorf("addr %d: got %s want %s", i, p.Addrs[i], addrs[i])
			}
		}
	}
}

func TestCleanName(t *testing.T) {
	cases := map[string]string{
		"  Alice  ":                       "Alice",
		"a\x1b[31mred\x07":                "a[31mred",
		"bad\xff\xfeutf8":                 "badutf8",
		"line\nbreak\ttab":                "linebreaktab",
		strings.Repeat("é", 200):          strings.Repeat("é", 125), // 250 bytes, cut at a rune
		strings.Repeat("a", 249) + "é":    strings.Repeat("a", 249),
		strings.Repeat("a", 250) + "tail": strings.Repeat("a", 250),
	}
	for in, want := range cases {
		if got := CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
		if got := "name=" + CleanName(in); len(got) > MaxTXTString {
			t.Errorf("name string of %d bytes", len(got))
		}
	}
}

func TestEncodeTXTDropsWhatDoesNotFit(t *testing.T) {
	id, other := testID(t, "carol"), testID(t, "mallory")
	long := "/dns4/" + strings.Repeat("a", 200) + ".example/tcp/1"
	var many []ma.Multiaddr
	for i := range 100 {
		many = append(many, ma.StringCast("/ip4/198.18.1."+strconv.Itoa(i)+"/tcp/4001"))
	}
	in := append(maddrs(t,
		"/ip4/198.18.0.3/tcp/4001",
		"/ip4/198.18.0.3/tcp/4001",                     // duplicate
		"/ip4/198.18.0.3/tcp/4002/p2p/"+id.String(),    // own suffix: kept, not doubled
		"/ip4/198.18.0.3/tcp/4003/p2p/"+other.String(), // someone else's
		"/p2p/"+id.String(),                            // no transport
		long,                                           // over 255 bytes with the suffix
	), many...)
	in = append(in, nil)
	txt := EncodeTXT(id, "Carol", in)
	var dnsaddrs []string
	for _, s := range txt {
		if len(s) > MaxTXTString {
			t.Errorf("string of %d bytes", len(s))
		}
		if v, ok := strings.CutPrefix(s, "dnsaddr="); ok {
			dnsaddrs = append(dnsaddrs, v)
		}
	}
	if len(dnsaddrs) != MaxAdvertAddrs {
		t.Fatalf("%d dnsaddrs, want %d", len(dnsaddrs), MaxAdvertAddrs)
	}
	want := []string{"/ip4/198.18.0.3/tcp/4001/p2p/" + id.String(), "/ip4/198.18.0.3/tcp/4002/p2p/" + id.String()}
	if !slices.Equal(dnsaddrs[:2], want) {
		t.Errorf("first dnsaddrs %q, want %q", dnsaddrs[:2], want)
	}
	if _, err := ParseTXT(txt); err != nil {
		t.Errorf("ParseTXT rejects EncodeTXT's output: %v", err)
	}
}

func TestParseTXTRejects(t *testing.T) {
	id, other := testID(t, "dave"), testID(t, "eve")
	good := func(extra ...string) []string {
		return append([]string{"v=1", "id=" + id.String(), "name=Dave", "dnsaddr=/ip4/198.18.0.4/tcp/1/p2p/" + id.String()}, extra...)
	}
	var tooMany []string
	for i := range MaxAdvertAddrs + 1 {
		tooMany = append(tooMany, "dnsaddr=/ip4/198.18.2."+strconv.Itoa(i%250)+"/tcp/"+strconv.Itoa(i+1)+"/p2p/"+id.String())
	}
	cases := map[string][]string{
		"empty":              nil,
		"garbage":            {"\x00\xff", "===", "hello"},
		"no version":         {"id=" + id.String(), "dnsaddr=/ip4/198.18.0.4/tcp/1/p2p/" + id.String()},
		"version 2":          {"v=2", "id=" + id.String(), "dnsaddr=/ip4/198.18.0.4/tcp/1/p2p/" + id.String()},
		"no id":              {"v=1", "dnsaddr=/ip4/198.18.0.4/tcp/1/p2p/" + id.String()},
		"bad id":             {"v=1", "id=notapeerid", "dnsaddr=/ip4/198.18.0.4/tcp/1/p2p/" + id.String()},
		"no addrs":           {"v=1", "id=" + id.String(), "name=Dave"},
		"mismatched peer ID": good("dnsaddr=/ip4/198.18.0.4/tcp/2/p2p/" + other.String()),
		"no p2p suffix":      good("dnsaddr=/ip4/198.18.0.4/tcp/2"),
		"only p2p":           good("dnsaddr=/p2p/" + id.String()),
		"bad multiaddr":      good("dnsaddr=/ip4/999.1.1.1/tcp/1/p2p/" + id.String()),
		"not a multiaddr":    good("dnsaddr=hello"),
		"repeated id":        good("id=" + other.String()),
		"repeated version":   good("V=1"),
		"repeated name":      good("name=Mallory"),
		"oversized string":   good("x=" + strings.Repeat("a", 254)),
		"too many addrs":     append(good(), tooMany...),
		"too many strings":   append(good(), slices.Repeat([]string{"x=1"}, maxTXTStrings)...),
	}
	for name, txt := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := ParseTXT(txt)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, ErrInvalidTXT) {
				t.Errorf("error %v does not wrap ErrInvalidTXT", err)
			}
			t.Log(err)
		})
	}
}

func TestParseTXTLenient(t *testing.T) {
	id := testID(t, "frank")
	p, err := ParseTXT([]string{
		"ID=" + id.String(), "V=1", "flag", "future=yes",
		"DNSADDR=/ip4/198.18.0.6/tcp/1/p2p/" + id.String(),
		"dnsaddr=/ip4/198.18.0.6/tcp/1/p2p/" + id.String(), // duplicate, dropped
		"name=\x1b]0;pwned\x07Frank",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != id || len(p.Addrs) != 1 || p.Name != "]0;pwnedFrank" {
		t.Fatalf("got %+v", p)
	}
}

func FuzzParseTXT(f *testing.F) {
	id := testID(f, "fuzz")
	f.Add(strings.Join(EncodeTXT(id, "Fuzz", maddrs(f, "/ip4/198.18.0.7/tcp/4001", "/ip6/::1/udp/1/quic-v1")), "\n"))
	f.Add("v=1\nid=" + id.String() + "\ndnsaddr=/p2p/" + id.String())
	f.Add("v=1\nid=QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N\ndnsaddr=/ip4/1.2.3.4/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Add("v=1\nid=\ndnsaddr=/ip6zone/x/ip6/fe80::1/tcp/1")
	f.Add("\xff=\xff\n=\n\n")
	f.Fuzz(func(t *testing.T, joined string) {
		txt := strings.Split(joined, "\n")
		p, err := ParseTXT(txt)
		if err != nil {
			if !errors.Is(err, ErrInvalidTXT) {
				t.Fatalf("error %v does not wrap ErrInvalidTXT", err)
			}
			return
		}
		if len(p.Addrs) == 0 || len(p.Addrs) > MaxAdvertAddrs || p.ID.Validate() != nil {
			t.Fatalf("accepted a bad advert: %+v", p)
		}
		// What was accepted must survive a round trip through EncodeTXT.
		again, err := ParseTXT(EncodeTXT(p.ID, p.Name, p.Addrs))
		if err != nil {
			t.Fatalf("re-encoded advert rejected: %v", err)
		}
		if again.ID != p.ID || again.Name != p.Name || len(again.Addrs) != len(p.Addrs) {
			t.Fatalf("round trip changed %+v into %+v", p, again)
		}
		// What the LAN link lets through is a subset, in a subnet, never loopback or link-local.
		for _, a := range FitLink(p.Addrs, fuzzLink) {
			ip, err := manet.ToIP(a)
			if err != nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || !fuzzLAN.Contains(ip) {
				t.Fatalf("FitLink kept %s", a)
			}
		}
	})
}

var (
	_, fuzzLAN, _ = net.ParseCIDR("198.18.0.0/24")
	fuzzLink      = LinkOf([]net.Addr{&net.IPNet{IP: net.IPv4(198, 18, 0, 5), Mask: fuzzLAN.Mask}})
)
