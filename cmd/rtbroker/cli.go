package main

// What the operator subcommands (tail, export, import, backup, compact)
// share: their flag sets, the data directory of a stopped log, the HTTP
// client of a running server and the progress bar.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.etcd.io/bbolt"
	"golang.org/x/term"

	"github.com/rtbroker/rtbroker/storage/bolt"
)

// cmdFlags is the flag set of an operator subcommand, with a usage text
// that starts with its synopsis.
func cmdFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// dataFlags are --data and --config of the commands that open a stopped
// server's data directory (check, recover, compact, export, import).
type dataFlags struct {
	getenv       func(string) string
	data, config string
}

// addDataFlags adds --data and --config to fs. The directory is the one
// serve would use with the same settings: --data, else RTBROKER_DATA,
// else the data key of the --config file (or RTBROKER_CONFIG's), else
// ./data.
func addDataFlags(fs *flag.FlagSet, getenv func(string) string) *dataFlags {
	d := &dataFlags{getenv: getenv}
	fs.StringVar(&d.data, "data", "", "data directory of a stopped server (env RTBROKER_DATA; else the --config file's data key; default ./data)")
	fs.StringVar(&d.config, configFileFlag, "", "serve's TOML settings `file` to take data from (env RTBROKER_CONFIG)")
	return d
}

// dir returns the data directory; call it after the flags are parsed. A
// config file that serve would refuse is refused here too.
func (d *dataFlags) dir() (string, error) {
	if d.data != "" {
		return d.data, nil
	}
	if v := d.getenv(envName("data")); v != "" {
		return v, nil
	}
	path := d.config
	if path == "" {
		path = d.getenv(envName(configFileFlag))
	}
	if path != "" {
		serveFlags := flag.NewFlagSet("serve", flag.ContinueOnError)
		(&config{}).flags(serveFlags)
		settings, err := readConfigFile(path, serveFlags)
		if err != nil {
			return "", err
		}
		for _, s := range settings {
			if s.Key == "data" {
				return s.Value, nil
			}
		}
	}
	return "./data", nil
}

// serverFlags are --server and --api-key (and --token), for the
// subcommands that talk to a running server.
type serverFlags struct {
	server, apiKey, token string
	getenv                func(string) string
}

// add adds --server, --api-key and, when withToken, --token. The
// credentials' defaults come from the environment when a request is made
// (the first key of RTBROKER_API_KEY, the variable serve reads its keys
// from; RTBROKER_TOKEN), never as flag defaults, which -h would print.
// --server defaults to RTBROKER_SERVER only for the commands that always
// need a server (needServer): for export and import it chooses between
// the running server and a stopped log, which a variable must not decide.
func (s *serverFlags) add(fs *flag.FlagSet, getenv func(string) string, serverUsage string, withToken, needServer bool) {
	s.getenv = getenv
	def := ""
	if needServer {
		def = getenv("RTBROKER_SERVER")
		serverUsage += " (env RTBROKER_SERVER)"
	}
	fs.StringVar(&s.server, "server", def, serverUsage)
	fs.StringVar(&s.apiKey, "api-key", "", "an API key of the server, sent as Authorization: Bearer (default: the first key of env RTBROKER_API_KEY)")
	if withToken {
		fs.StringVar(&s.token, "token", "", "a user token (JWT) to send instead of an API key (env RTBROKER_TOKEN)")
	}
}

// credential is the bearer credential to send: --token, --api-key, or
// their variables; "" for none.
func (s *serverFlags) credential() string {
	switch {
	case s.token != "":
		return s.token
	case s.apiKey != "":
		return s.apiKey
	case s.getenv == nil:
		return ""
	}
	if key, _, _ := strings.Cut(s.getenv("RTBROKER_API_KEY"), ","); strings.TrimSpace(key) != "" {
		return strings.TrimSpace(key)
	}
	return s.getenv("RTBROKER_TOKEN")
}

// request returns a request to path (and query) of the server.
func (s *serverFlags) request(method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	base := strings.TrimRight(s.server, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base + path)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not a URL", s.server)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c := s.credential(); c != "" {
		req.Header.Set("Authorization", "Bearer "+c)
	}
	return req, nil
}

// serverError turns a non-2xx answer into an error naming its code and
// message ({"error":{"code","message"}}), and closes its body.
func serverError(resp *http.Response) error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("server answered %d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	return fmt.Errorf("server answered %d: %.200s", resp.StatusCode, b)
}

// logPath returns the log file of the stopped server in data, which must
// exist.
func logPath(data string) (string, error) {
	path := filepath.Join(data, dbFile)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no log in %s: %w", data, err)
	}
	return path, nil
}

// openStopped opens the log file at path of a stopped server; a server
// running on it holds the file's lock, which is said plainly.
func openStopped(path string) (*bolt.Log, error) {
	l, err := bolt.Open(path, bolt.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%s is locked: a server is running on it (stop it, or use --server URL)", path)
	}
	return l, err
}

// progress draws a progress bar on w when w is a terminal, and nothing
// otherwise (a pipe, a file, a test).
type progress struct {
	bar *progressbar.ProgressBar // nil: not a terminal
	w   io.Writer
}

// newProgress returns a progress bar of what on w, counted in bytes when
// bytes is set, otherwise in events; total -1 means unknown.
func newProgress(w io.Writer, what string, total int64, bytes bool) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionSetItsString("events"), progressbar.OptionShowIts())
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...), w: w}
}

// add counts n more.
func (p *progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// setTotal sets the total once it is known.
func (p *progress) setTotal(n int) {
	if p.bar != nil {
		p.bar.ChangeMax(n)
	}
}

// reader counts what r reads.
func (p *progress) reader(r io.Reader) io.Reader {
	if p.bar == nil {
		return r
	}
	pr := progressbar.NewReader(r, p.bar)
	return &pr
}

// done removes the bar.
func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// writeFileAtomic writes what fill writes into path through a temporary
// file beside it, renamed over path only once fill succeeded and the file
// is synced: a failed run leaves no half-written file under path.
func writeFileAtomic(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: a no-op
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
