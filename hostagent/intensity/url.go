package intensity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// FetchTimeout bounds one HTTP fetch, from dialing to the last byte.
const FetchTimeout = 10 * time.Second

// maxAuthFile bounds the auth header file.
const maxAuthFile = 16 << 10

// URL polls an HTTP endpoint answering Electricity Maps'
// carbon-intensity/latest JSON (carbon_intensity_url), with the headers of
// carbon_intensity_auth_file. Redirects are refused (the auth header must
// not follow them elsewhere); a status other than 200, a body over
// MaxBytes, or one that does not parse is refused.
type URL struct {
	u       *url.URL
	header  http.Header
	client  *http.Client
	now     func() time.Time
	agent   string
	display string // the URL without query or user info, for logs and records
}

// URLOptions configure a URL source.
type URLOptions struct {
	URL       string
	AuthFile  string           // "" for none
	UserAgent string           // e.g. "virtwatt-host/1.2.0"
	Timeout   time.Duration    // default FetchTimeout
	Now       func() time.Time // default time.Now
}

// CheckURL checks carbon_intensity_url's syntax (no network).
func CheckURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q does not parse: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: the scheme must be https (or http), e.g. https://api.electricitymaps.com/v3/carbon-intensity/latest?zone=DE", s)
	case u.Host == "":
		return nil, fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("%q holds credentials: put them in carbon_intensity_auth_file (e.g. \"auth-token: …\") instead", redact(u))
	}
	return u, nil
}

// redact is u without user info and query (which may hold a token).
func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment = nil, "", false, ""
	return c.String()
}

// ReadAuthFile reads carbon_intensity_auth_file: one HTTP header per line,
// "Name: value" (Electricity Maps: "auth-token: …"); blank lines and lines
// starting with '#' are skipped. Errors never show a value.
func ReadAuthFile(path string) (http.Header, error) {
	b, err := regfile.ReadFile(path, maxAuthFile, 0)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s line %d: not \"Name: value\" (a bare token? write \"auth-token: YOURTOKEN\")", path, n)
		case !isToken(name):
			return nil, fmt.Errorf("%s line %d: %q is not a header name", path, n, name)
		case value == "" || strings.ContainsFunc(value, isCtl):
			return nil, fmt.Errorf("%s line %d: the value of %s is empty or holds control characters", path, n, name)
		}
		h.Add(name, value)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("%s holds no header: write one line such as \"auth-token: YOURTOKEN\"", path)
	}
	return h, nil
}

// NewURL checks the URL and reads the auth file (at start only: restart to
// change it).
func NewURL(o URLOptions) (*URL, error) {
	u, err := CheckURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("carbon_intensity_url %w", err)
	}
	s := &URL{u: u, header: http.Header{}, now: o.Now, agent: o.UserAgent, display: redact(u)}
	if s.now == nil {
		s.now = time.Now
	}
	if o.AuthFile != "" {
		h, err := ReadAuthFile(o.AuthFile)
		if err != nil {
			return nil, fmt.Errorf("carbon_intensity_auth_file: %w", err)
		}
		s.header = h
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = FetchTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: timeout / 2}).DialContext
	tr.TLSHandshakeTimeout = timeout / 2
	tr.ResponseHeaderTimeout = timeout
	tr.MaxIdleConns, tr.IdleConnTimeout = 1, time.Minute
	s.client = &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return s, nil
}

// Describe names the source for logs (without the query or credentials).
func (s *URL) Describe() string { return "carbon_intensity_url " + s.display }

// sourceName is what records say of a value from s with zone z:
// "electricitymaps:DE" from Electricity Maps' API, else "url:<url>".
func (s *URL) sourceName(z string) string {
	h := strings.ToLower(s.u.Hostname())
	if strings.HasSuffix(h, ".electricitymaps.com") || strings.HasSuffix(h, ".electricitymap.org") {
		return "electricitymaps:" + z
	}
	return "url:" + s.display
}

// Fetch GETs the URL once.
func (s *URL) Fetch(ctx context.Context) (Value, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.u.String(), nil)
	if err != nil {
		return Value{}, fmt.Errorf("%s: %w", s.Describe(), err)
	}
	for k, vs := range s.header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if s.agent != "" {
		req.Header.Set("User-Agent", s.agent)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL (with its query) stays out of logs
		}
		return Value{}, fmt.Errorf("%s: %w", s.Describe(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return Value{}, fmt.Errorf("%s: reading the body: %w", s.Describe(), err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Value{}, fmt.Errorf("%s: %s: check the token in carbon_intensity_auth_file", s.Describe(), resp.Status)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Value{}, fmt.Errorf("%s: %s to %s: set carbon_intensity_url to the final address (redirects are not followed)",
			s.Describe(), resp.Status, resp.Header.Get("Location"))
	case resp.StatusCode != http.StatusOK:
		return Value{}, fmt.Errorf("%s: %s: %s", s.Describe(), resp.Status, snippet(body))
	case len(body) > MaxBytes:
		return Value{}, fmt.Errorf("%s: the body is over %d bytes", s.Describe(), MaxBytes)
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return Value{}, fmt.Errorf("%s: the body is not a JSON object: %s", s.Describe(), snippet(body))
	}
	v, err := Parse(body, s.now())
	if err != nil {
		return Value{}, fmt.Errorf("%s: %w", s.Describe(), err)
	}
	if v.Time.IsZero() {
		v.Time = s.now().UTC()
	}
	v.Source = s.sourceName(v.Zone)
	return v, nil
}

// snippet is the start of a body, printable, for an error message.
func snippet(b []byte) string {
	const n = 120
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, string(b[:min(len(b), n)]))
	if len(b) > n {
		s += "…"
	}
	return fmt.Sprintf("%q", strings.TrimSpace(s))
}

// isToken reports whether s is an HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// isCtl reports a control character, which no header value may hold (tab aside).
func isCtl(r rune) bool { return r != '\t' && (r < ' ' || r == 0x7f) }
