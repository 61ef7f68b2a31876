package netguard

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxRedirects = 3
	DefaultDialTimeout  = 10 * time.Second
	DefaultUserAgent    = "Vigil"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a guarded client. The zero value is usable.
type Options struct {
	Policy
	// MaxRedirects bounds the redirects followed for one request (0 means
	// DefaultMaxRedirects, a negative value follows none).
	MaxRedirects int
	// Timeout bounds a whole request, 0 for none: callers bound each
	// request with its context.
	Timeout time.Duration
	// DialTimeout bounds one connection attempt (default 10s).
	DialTimeout time.Duration
	// UserAgent is sent when a request sets none (default "Vigil"; use
	// "Vigil/<version>").
	UserAgent string
	// TLSConfig, when set, is used for https (for example with a private
	// CA's RootCAs). It is cloned.
	TLSConfig *tls.Config
	// Resolver resolves host names (default net.DefaultResolver).
	Resolver Resolver
}

// NewClient returns an HTTP client whose every connection, including
// those of redirects, goes through a guarded Dialer. It ignores proxy
// settings from the environment, which would otherwise let every request
// bypass the address check, and it speaks only http and https.
func NewClient(o Options) *http.Client {
	d := NewDialer(o)
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if o.TLSConfig != nil {
		tr.TLSClientConfig = o.TLSConfig.Clone()
	}
	ua := o.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	maxRedirects := o.MaxRedirects
	if maxRedirects == 0 {
		maxRedirects = DefaultMaxRedirects
	}
	return &http.Client{
		Transport:     &roundTripper{next: tr, userAgent: ua},
		CheckRedirect: checkRedirect(maxRedirects),
		Timeout:       o.Timeout,
	}
}

// roundTripper refuses schemes other than http and https and sets the
// User-Agent.
type roundTripper struct {
	next      http.RoundTripper
	userAgent string
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req.URL.Scheme); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", rt.userAgent)
	}
	return rt.next.RoundTrip(req)
}

func checkScheme(scheme string) error {
	if scheme != "http" && scheme != "https" {
		return refusedf("refusing the URL scheme %q: only http and https are allowed", scheme)
	}
	return nil
}

// ErrRefused matches, through errors.Is, every error with which the
// guard refuses a request: a refused address (*DeniedError), scheme or
// redirect. Sending the same request again cannot succeed.
var ErrRefused = errors.New("request refused by the address guard")

type refusedError struct{ msg string }

func (e *refusedError) Error() string        { return e.msg }
func (e *refusedError) Is(target error) bool { return target == ErrRefused }

func refusedf(format string, args ...any) error {
	return &refusedError{msg: fmt.Sprintf(format, args...)}
}

// safeRedirectHeaders are the request headers kept when a redirect leaves
// the original host; every other header, which may carry a credential
// (an API key, a custom authorization header), is dropped. Headers that
// start with X-Vigil- carry no secret and are kept too.
var safeRedirectHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true,
	"Content-Type": true, "User-Agent": true,
}

func checkRedirect(maxRedirects int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			if maxRedirects < 0 {
				return refusedf("refusing to follow a redirect")
			}
			return refusedf("stopped after %d redirects", maxRedirects)
		}
		if err := checkScheme(req.URL.Scheme); err != nil {
			return refusedf("redirect to host %s: %v", req.URL.Host, err)
		}
		prev := via[len(via)-1]
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return refusedf("refusing a redirect from https to http (host %s)", req.URL.Host)
		}
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			for k := range req.Header {
				if !safeRedirectHeaders[k] && !strings.HasPrefix(k, "X-Vigil-") {
					req.Header.Del(k)
				}
			}
		}
		return nil
	}
}

// Dialer dials TCP connections only to addresses its Policy allows.
type Dialer struct {
	policy   Policy
	resolver Resolver
	dialer   net.Dialer
}

// NewDialer returns a guarded Dialer.
func NewDialer(o Options) *Dialer {
	d := &Dialer{policy: o.Policy, resolver: o.Resolver}
	if d.resolver == nil {
		d.resolver = net.DefaultResolver
	}
	timeout := o.DialTimeout
	if timeout == 0 {
		timeout = DefaultDialTimeout
	}
	d.dialer = net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: d.control}
	return d
}

// DialContext resolves the host of address, refuses it when any of its
// addresses is refused, and otherwise dials the checked addresses in turn.
// Refusing the host when only some of its addresses are internal keeps a
// name that mixes public and internal answers from reaching either.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	var lookup string
	switch network {
	case "tcp":
		lookup = "ip"
	case "tcp4":
		lookup = "ip4"
	case "tcp6":
		lookup = "ip6"
	default:
		return nil, refusedf("refusing to dial network %q", network)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = d.resolver.LookupNetIP(ctx, lookup, host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	for _, a := range addrs {
		if err := d.policy.Check(host, a); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, a := range addrs {
		conn, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(a.WithZone("").String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// control checks the address the socket is about to connect to, a second
// line of defence should anything hand the dialer an unchecked address.
func (d *Dialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: %w", address, err)
	}
	return d.policy.Check("", ap.Addr())
}
