package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"::ffff:8.8.8.8", ""},
		{"127.0.0.1", ReasonLoopback},
		{"127.255.255.254", ReasonLoopback},
		{"::1", ReasonLoopback},
		{"::ffff:127.0.0.1", ReasonLoopback},
		{"10.0.0.5", ReasonPrivate},
		{"172.16.0.1", ReasonPrivate},
		{"172.31.255.255", ReasonPrivate},
		{"172.32.0.1", ""},
		{"192.168.1.1", ReasonPrivate},
		{"::ffff:10.0.0.5", ReasonPrivate},
		{"::ffff:192.168.0.1", ReasonPrivate},
		{"fc00::1", ReasonPrivate},
		{"fd12:3456::1", ReasonPrivate},
		{"169.254.1.1", ReasonLinkLocal},
		{"fe80::1", ReasonLinkLocal},
		{"fe80::1%eth0", ReasonLinkLocal},
		{"169.254.169.254", ReasonMetadata},
		{"::ffff:169.254.169.254", ReasonMetadata},
		{"fd00:ec2::254", ReasonMetadata},
		{"100.100.100.200", ReasonMetadata},
		{"100.64.0.1", ReasonShared},
		{"100.127.255.255", ReasonShared},
		{"100.128.0.1", ""},
		{"0.0.0.0", ReasonUnspecified},
		{"::", ReasonUnspecified},
		{"0.1.2.3", ReasonThisNetwork},
		{"224.0.0.1", ReasonMulticast},
		{"239.255.255.250", ReasonMulticast},
		{"ff02::1", ReasonMulticast},
		{"255.255.255.255", ReasonBroadcast},
		{"::ffff:255.255.255.255", ReasonBroadcast},
		{"240.0.0.1", ReasonReserved},
		{"fec0::1", ReasonSiteLocal},
		{"::127.0.0.1", ReasonCompatible},
		{"::8.8.8.8", ReasonCompatible},
		{"64:ff9b::10.0.0.1", ReasonPrivate},
		{"64:ff9b::169.254.169.254", ReasonMetadata},
		{"64:ff9b::8.8.8.8", ""},
		{"2002:7f00:1::1", ReasonLoopback}, // 6to4 of 127.0.0.1
		{"2002:0808:0808::1", ""},
	}
	for _, tt := range tests {
		if got := Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Classify(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestPolicyAllow(t *testing.T) {
	p := Policy{Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("fd00:ec2::254/128"),
	}}
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true}, // mapped form of an allowed address
		{"10.1.2.3", true},
		{"10.2.0.1", false},
		{"169.254.1.1", true},
		{"169.254.169.254", false}, // metadata needs its own /32
		{"fd00:ec2::254", true},
		{"192.168.0.1", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		err := p.Check("h", netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.allowed {
			t.Errorf("Check(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
		}
	}
	p.Allow = append(p.Allow, netip.MustParsePrefix("169.254.169.254/32"))
	if err := p.Check("h", netip.MustParseAddr("169.254.169.254")); err != nil {
		t.Errorf("metadata named by a /32: %v", err)
	}
}

func TestDeniedErrorMessage(t *testing.T) {
	err := (&Policy{}).Check("hooks.internal", netip.MustParseAddr("10.0.0.5"))
	want := "refusing to connect to 10.0.0.5 (private address) for host hooks.internal; " +
		"add 10.0.0.5/32 to notify.allow_private_targets to allow it"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	err = (&Policy{Setting: "x.allow"}).Check("fd00::1", netip.MustParseAddr("fd00::1"))
	want = "refusing to connect to [fd00::1] (private address); add fd00::1/128 to x.allow to allow it"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// fakeResolver answers from a map and counts lookups; unknown names are
// not found.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]string
	calls int
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	addrs, ok := r.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	defer srv.Close()

	_, err := get(t, NewClient(Options{}), srv.URL+"/hook/secret-token?key=abc")
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want a *DeniedError", err)
	}
	if de.Reason != ReasonLoopback {
		t.Errorf("reason = %q", de.Reason)
	}
	if strings.Contains(de.Error(), "secret-token") || strings.Contains(de.Error(), "key=abc") {
		t.Errorf("error names the path or query: %v", de)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Errorf("the server got %d requests", hits)
	}
}

func TestAllowListAllowsLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.UserAgent())
	}))
	defer srv.Close()
	c := NewClient(Options{Policy: Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, UserAgent: "Vigil/1.2.3"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "Vigil/1.2.3" {
		t.Errorf("User-Agent = %q", body)
	}
}

func TestResolvedAddressesChecked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	res := &fakeResolver{hosts: map[string][]string{
		"ok.test":       {"127.0.0.1"},
		"mixed.test":    {"127.0.0.1", "10.0.0.9"}, // one internal answer refuses the host
		"metadata.test": {"169.254.169.254"},
		"mapped.test":   {"::ffff:10.0.0.9"},
	}}
	c := NewClient(Options{Policy: Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, Resolver: res})
	tests := []struct {
		host   string
		reason string // "" = allowed
		dns    bool
	}{
		{"ok.test", "", false},
		{"mixed.test", ReasonPrivate, false},
		{"metadata.test", ReasonMetadata, false},
		{"mapped.test", ReasonPrivate, false},
		{"nxdomain.test", "", true},
	}
	for _, tt := range tests {
		_, err := get(t, c, fmt.Sprintf("http://%s:%d/", tt.host, port))
		var de *DeniedError
		var dnsErr *net.DNSError
		switch {
		case tt.dns:
			if !errors.As(err, &dnsErr) {
				t.Errorf("%s: err = %v, want a DNS error", tt.host, err)
			}
		case tt.reason == "":
			if err != nil {
				t.Errorf("%s: %v", tt.host, err)
			}
		case !errors.As(err, &de) || de.Reason != tt.reason || de.Host != tt.host:
			t.Errorf("%s: err = %v, want refused as %s", tt.host, err, tt.reason)
		}
	}
}

func TestRedirects(t *testing.T) {
	allow := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	var final http.Header
	var mu sync.Mutex
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		final = r.Header.Clone()
		mu.Unlock()
	}))
	defer target.Close()
	tport := target.Listener.Addr().(*net.TCPAddr).Port

	mux := http.NewServeMux()
	mux.HandleFunc("/to-denied", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:1/x", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/to-internal-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://internal.test/x", http.StatusFound)
	})
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/to-other-host", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://other.test:%d/", tport), http.StatusTemporaryRedirect)
	})
	src := httptest.NewServer(mux)
	defer src.Close()

	res := &fakeResolver{hosts: map[string][]string{"internal.test": {"192.168.7.7"}, "other.test": {"127.0.0.1"}}}
	c := NewClient(Options{Policy: allow, Resolver: res})

	for _, tt := range []struct{ path, want string }{
		{"/to-denied", "refusing to connect to 127.0.0.2 (loopback address)"},
		{"/to-internal-name", "refusing to connect to 192.168.7.7 (private address) for host internal.test"},
		{"/to-file", `refusing the URL scheme "file"`},
		{"/loop", "stopped after 3 redirects"},
	} {
		_, err := get(t, c, src.URL+tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.path, err, tt.want)
		}
	}

	// A redirect to another host drops headers that may hold credentials.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, src.URL+"/to-other-host", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	req.Header.Set("X-Api-Key", "k3y")
	req.Header.Set("X-Vigil-Notification-Id", "n1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		if final.Get(h) != "" {
			t.Errorf("header %s followed the redirect to another host", h)
		}
	}
	for _, h := range []string{"X-Vigil-Notification-Id", "Content-Type"} {
		if final.Get(h) == "" {
			t.Errorf("header %s was dropped", h)
		}
	}

	// No redirects at all.
	_, err = get(t, NewClient(Options{Policy: allow, MaxRedirects: -1}), src.URL+"/loop")
	if err == nil || !strings.Contains(err.Error(), "refusing to follow a redirect") {
		t.Errorf("MaxRedirects -1: err = %v", err)
	}
}

func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the http server was reached")
	}))
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/downgraded", http.StatusFound)
	}))
	defer tlsSrv.Close()
	c := NewClient(Options{
		Policy:    Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		TLSConfig: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig,
	})
	_, err := get(t, c, tlsSrv.URL)
	if err == nil || !strings.Contains(err.Error(), "refusing a redirect from https to http") {
		t.Errorf("err = %v", err)
	}
}

func TestProxyFromEnvironmentIgnored(t *testing.T) {
	var proxied int
	var mu sync.Mutex
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied++
		mu.Unlock()
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")

	// The target is internal; through a proxy the dial check would see
	// only the proxy's address.
	res := &fakeResolver{hosts: map[string][]string{"internal.test": {"10.0.0.1"}}}
	c := NewClient(Options{Policy: Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, Resolver: res})
	_, err := get(t, c, "http://internal.test/")
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Errorf("err = %v, want a *DeniedError", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if proxied != 0 {
		t.Errorf("the proxy got %d requests", proxied)
	}
}

func TestDialerControlRefusesUncheckedAddress(t *testing.T) {
	d := NewDialer(Options{})
	if err := d.control("tcp4", "10.0.0.1:80", nil); err == nil {
		t.Error("control allowed 10.0.0.1")
	}
	if err := d.control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("control refused 8.8.8.8: %v", err)
	}
	if _, err := d.DialContext(t.Context(), "udp", "8.8.8.8:53"); err == nil {
		t.Error("udp was dialled")
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{169, 254, 169, 254})
	f.Add([]byte{8, 8, 8, 8})
	f.Add([]byte{0xfd, 0, 0xe, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x54})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a netip.Addr
		switch len(b) {
		case 4:
			a = netip.AddrFrom4([4]byte(b))
			// The IPv4-mapped and NAT64 forms are judged like the address.
			if got, want := Classify(netip.AddrFrom16(a.As16())), Classify(a); got != want {
				t.Fatalf("mapped %s: %q, plain %q", a, got, want)
			}
			nat := netip.MustParseAddr("64:ff9b::").As16()
			copy(nat[12:], b)
			if r := Classify(a); r != "" && Classify(netip.AddrFrom16(nat)) == "" {
				t.Fatalf("NAT64 form of %s allowed", a)
			}
		case 16:
			a = netip.AddrFrom16([16]byte(b))
		default:
			return
		}
		r := Classify(a)
		err := (&Policy{}).Check("h", a)
		if (r == "") != (err == nil) {
			t.Fatalf("%s: Classify %q, Check %v", a, r, err)
		}
	})
}
