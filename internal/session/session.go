// Package session wires one mounted account: discovery, the cache, the lister and the
// FUSE file system. cmd/ncvfs, the demo and the end-to-end tests all mount through it.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/fusefs"
	"github.com/ncvfs/ncvfs/hydrate"
	"github.com/ncvfs/ncvfs/internal/control"
	"github.com/ncvfs/ncvfs/internal/exclude"
	"github.com/ncvfs/ncvfs/internal/mountinfo"
	"github.com/ncvfs/ncvfs/internal/procname"
)

// Config is everything a mount needs.
type Config struct {
	URL, User, Password string
	Mountpoint          string
	// CacheDir defaults to DefaultCacheDir(URL, User).
	CacheDir           string
	InsecureSkipVerify bool
	AllowOther         bool
	AllowNonEmpty      bool
	Debug              bool
	ListingTTL         time.Duration
	KernelTTL          time.Duration
	// Poll is how often the server is asked whether anything changed (the change
	// poller; the command line's default is hydrate.DefaultPollInterval). Zero or
	// less: no polling; changes are seen when folders are visited.
	Poll time.Duration
	// CacheSize bounds local content (default hydrate.DefaultCacheSize); MinFreeSpace is
	// what must stay free on the cache's disk (default hydrate.DefaultMinFreeSpace).
	CacheSize, MinFreeSpace int64
	// DiscoverTimeout bounds the first contact with the server; default 30s.
	DiscoverTimeout time.Duration
	Logger          *slog.Logger
	// Writes turns on write-back (experimental, off by default): without it every
	// change is refused with EROFS.
	Writes bool
	// UploadDebounce is how long a closed file is left alone before its upload
	// (default hydrate.DefaultDebounce); ChunkThreshold the size above which files go
	// up in chunks on Nextcloud (default hydrate.DefaultChunkThreshold).
	UploadDebounce time.Duration
	ChunkThreshold int64
	ChunkSize      int64
	// UploadConflicts uploads conflict copies too (the desktop clients do not).
	UploadConflicts bool
	// ExcludeFile holds the user's own patterns of names never uploaded, besides the
	// desktop clients' list (default DefaultExcludeFile(); a missing file is none).
	ExcludeFile string
	// NoXattr refuses extended attributes (ENOSYS) as before pins: the CLI still pins.
	NoXattr bool
	// PinWorkers bounds the downloads of pinned content at once (default
	// hydrate.DefaultPinWorkers).
	PinWorkers int
	// NoHydrateFor names programs (as /proc/PID/comm does, or in full) whose reads
	// never download: content not here fails at once with EIO (indexers, thumbnailers).
	NoHydrateFor []string
	// ProbeMin, ProbeMax and ProbeTimeout tune how an unreachable server is probed,
	// SuspectAfter how long a request waits before the server is checked (defaults
	// hydrate.DefaultProbeMin, DefaultProbeMax, DefaultProbeTimeout, DefaultSuspectAfter).
	ProbeMin, ProbeMax, ProbeTimeout, SuspectAfter time.Duration
}

// Session is a live mount.
type Session struct {
	Info    davclient.ServerInfo
	Store   *cache.Store
	Lister  *hydrate.Lister
	Fetcher *hydrate.Fetcher
	Budget  *hydrate.Budget
	// Local and Uploader are nil on a read-only mount.
	Local    *hydrate.Local
	Uploader *hydrate.Uploader
	// Poller is nil when Config.Poll is off.
	Poller *hydrate.Poller
	FS     *fusefs.FS
	Pinner *hydrate.Pinner
	// Online is the circuit breaker every request to the server goes through.
	Online *hydrate.Online
	pins   *pins
	server *fuse.Server
	mp     string
	log    *slog.Logger
	// For the control socket: the mount point as the mount table shows it, the
	// account as given (URL without credentials), the root's id.
	canonMP   string
	url, user string
	rootID    uint64
	ctl       *control.Server
}

// Start checks the mount point, reaches the server, opens the cache and mounts. Every
// error it returns is a sentence a person can act on.
func Start(ctx context.Context, cfg Config) (*Session, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := fusefs.CheckMountpoint(cfg.Mountpoint, cfg.AllowNonEmpty); err != nil {
		return nil, err
	}
	userExcludes, err := loadExcludes(cfg.ExcludeFile)
	if err != nil {
		return nil, err
	}
	if n := userExcludes.Len(); n > 0 && cfg.Writes {
		log.Info("user exclude patterns", "op", "mount", "patterns", n)
	}
	// Resolved before mounting: afterwards it would ask the mount itself.
	canonMP, err := control.CanonicalMountPoint(cfg.Mountpoint)
	if err != nil {
		log.Warn("no control socket", "op", "control", "err", err)
	}
	client, err := davclient.New(davclient.Config{
		URL: cfg.URL, User: cfg.User, Password: cfg.Password,
		InsecureSkipVerify: cfg.InsecureSkipVerify, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	timeout := cfg.DiscoverTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	info, err := client.Discover(dctx)
	cancel()
	if err != nil {
		return nil, explainDiscover(cfg, err)
	}

	dir := cfg.CacheDir
	if dir == "" {
		if dir, err = DefaultCacheDir(cfg.URL, cfg.User); err != nil {
			return nil, err
		}
	}
	store, err := cache.Open(dir, cache.Options{})
	if err != nil {
		return nil, fmt.Errorf("open the cache in %s: %w", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			store.Close()
		}
	}()
	rootID, err := adoptAccount(store, cfg, info)
	if err != nil {
		return nil, err
	}

	var fsys *fusefs.FS
	pn := &pins{store: store, log: log}
	// Everything below talks to the server through the breaker: offline, requests
	// fail at once and the cache answers.
	online := hydrate.NewOnline(hydrate.OnlineConfig{Client: client, Logger: log,
		ProbeMin: cfg.ProbeMin, ProbeMax: cfg.ProbeMax, ProbeTimeout: cfg.ProbeTimeout, SuspectAfter: cfg.SuspectAfter})
	lister := hydrate.NewLister(hydrate.ListerConfig{
		Store: store, Client: online, Dialect: info.Dialect, RootID: rootID,
		TTL: cfg.ListingTTL, Logger: log,
		OnChange: func(dirID uint64, d cache.Diff) {
			fsys.OnListingChange(dirID, d)
			pn.onListing(dirID, d)
		},
	})
	if info.Root.HasQuota {
		lister.SetQuota(hydrate.Quota{Used: info.Root.QuotaUsed, Available: info.Root.QuotaAvailable, Known: true})
	}
	if n, err := store.SweepContent(); err != nil {
		log.Warn("cannot clean the content cache", "op", "sweep", "err", err)
	} else if n > 0 {
		log.Info("removed content files left without a record", "op", "sweep", "files", n)
	}
	budget := &hydrate.Budget{Store: store, MaxBytes: orDefault(cfg.CacheSize, hydrate.DefaultCacheSize),
		MinFree: orDefault(cfg.MinFreeSpace, hydrate.DefaultMinFreeSpace), Logger: log}
	fetcher := hydrate.NewFetcher(hydrate.FetcherConfig{
		Store: store, Client: online, Logger: log,
		OnVersionChange: func(id uint64, passedThrough bool) { fsys.OnVersionChange(id, passedThrough) },
		OnStored: func(id uint64) {
			budget.Enforce()
			fsys.OnLocalBytesChange(id)
		},
		OnNoSpace: budget.Enforce,
		OnIdle:    pn.onIdle,
	})
	budget.Fetcher = fetcher
	pinner := hydrate.NewPinner(hydrate.PinnerConfig{Store: store, Lister: lister, Fetcher: fetcher,
		Workers: cfg.PinWorkers, Logger: log})
	pn.fetcher, pn.pinner, pn.budget = fetcher, pinner, budget
	budget.Enforce() // limits lowered since the last mount, or a disk filled meanwhile
	fcfg := fusefs.Config{
		Store: store, Lister: lister, Fetcher: fetcher, RootID: rootID,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), SharedModes: cfg.AllowOther,
		KernelTTL: cfg.KernelTTL, Logger: log, NoXattr: cfg.NoXattr, SetPin: pn.set,
	}
	if m := procname.New(cfg.NoHydrateFor); m != nil {
		fcfg.NoHydrate = m.Match
	}
	var local *hydrate.Local
	var uploader *hydrate.Uploader
	fcfg.State = func(it *cache.Item) string {
		var up hydrate.UploaderStatus
		if uploader != nil && uploader.Uploading(it.ID) {
			up.InFlight = []uint64{it.ID}
		}
		st := itemState(it, up)
		if (st == control.StateOnline || st == control.StatePartial) && fetcher.Hydrating(it.ID) {
			st = control.StateHydrating
		}
		return st
	}
	if cfg.Writes {
		local = hydrate.NewLocal(store, fetcher, log)
		uploader = hydrate.NewUploader(hydrate.UploaderConfig{
			Store: store, Client: online, Local: local, Lister: lister, Logger: log,
			Debounce: cfg.UploadDebounce, ChunkThreshold: cfg.ChunkThreshold, ChunkSize: cfg.ChunkSize,
			Chunked:         info.Dialect == davclient.DialectNextcloud && info.UserID != "",
			UploadConflicts: cfg.UploadConflicts,
			OnNames:         func(dirID uint64, names ...string) { fsys.OnNames(dirID, names...) },
			OnUploaded: func(id uint64) {
				fsys.OnUploaded(id)
				pn.onIdle(id) // clean now: onlineonly content goes as after a read
			},
			OnConflict: func(p string) { notifyConflict(log, cfg.Mountpoint, p) },
		})
		local.OnQueued = uploader.Wake
		fcfg.Local, fcfg.OnChange = local, uploader.Wake
		fcfg.Excluded = func(name string) bool {
			_, mine := userExcludes.MatchName(name)
			return mine || excludedName(name)
		}
		fcfg.NameRefused = nameRefusal(info)
	}
	fsys = fusefs.New(fcfg)
	pn.fsys = fsys
	server, err := fusefs.Mount(cfg.Mountpoint, fsys, fusefs.MountOptions{
		FsName: fsName(cfg, info), AllowOther: cfg.AllowOther,
		AllowNonEmpty: cfg.AllowNonEmpty, Debug: cfg.Debug,
	})
	if err != nil {
		online.Close()
		pinner.Close()
		lister.Close()
		fetcher.Close()
		budget.Close()
		return nil, err
	}
	ok = true
	if err := pinner.Start(); err != nil {
		log.Warn("pinned content not resumed", "op", "pin", "err", err)
	}
	// Pinned downloads that failed while offline are not retried on their own.
	online.OnReconnect(func() {
		if err := pinner.Start(); err != nil {
			log.Warn("pinned content not resumed", "op", "pin", "err", err)
		}
	})
	if uploader != nil {
		// Back online: what was queued meanwhile goes up now, not after its backoff.
		online.OnReconnect(uploader.RetryNow)
		uploader.Start() // changes queued before (a crash, an unmount with work left) go on
		if n, err := store.QueueLen(); err == nil && n > 0 {
			log.Info("resuming uploads left from before", "op", "upload", "pending", n)
		}
	}
	s := &Session{Info: info, Store: store, Lister: lister, Fetcher: fetcher, Budget: budget, FS: fsys,
		Local: local, Uploader: uploader, Pinner: pinner, Online: online, pins: pn, server: server, mp: cfg.Mountpoint, log: log,
		canonMP: canonMP, url: redactURL(cfg.URL), user: cfg.User, rootID: rootID}
	if cfg.Poll > 0 {
		s.Poller = hydrate.NewPoller(lister, cfg.Poll)
		online.OnReconnect(s.Poller.Kick) // show what changed on the server meanwhile
		s.Poller.Start()
	}
	s.startControl()
	log.Info("mounted", "url", redactURL(cfg.URL), "user", cfg.User, "dialect", info.Dialect.String(),
		"mountpoint", cfg.Mountpoint, "cache", dir, "poll", cfg.Poll)
	return s, nil
}

// adoptAccount makes sure the cache belongs to this account, then records the root.
func adoptAccount(store *cache.Store, cfg Config, info davclient.ServerInfo) (uint64, error) {
	acc := cache.Account{
		URL: redactURL(cfg.URL), FilesURL: info.FilesURL, Login: cfg.User, UserID: info.UserID,
		Dialect: info.Dialect.String(), Capabilities: info.Capabilities.Raw,
		QuotaUsed: info.Root.QuotaUsed, QuotaAvailable: info.Root.QuotaAvailable,
		HasQuota: info.Root.HasQuota, DataFingerprint: info.Root.DataFingerprint,
		UpdatedAt: time.Now(),
	}
	if err := store.ClaimAccount(acc); err != nil {
		return 0, fmt.Errorf("cache directory %s: %w", store.Dir(), err)
	}
	rootID, err := store.PutRoot(hydrate.ItemFromEntry(info.Root, info.Root.FileID))
	if err != nil {
		return 0, fmt.Errorf("record the root folder: %w", err)
	}
	acc.RootID = rootID
	if err := store.SetAccount(acc); err != nil {
		return 0, fmt.Errorf("record the account: %w", err)
	}
	return rootID, nil
}

// explainDiscover turns a failed first contact into advice.
func explainDiscover(cfg Config, err error) error {
	switch {
	case errors.Is(err, davclient.ErrUnauthorized):
		return fmt.Errorf("the server refused the credentials for user %q: check the user name and the app password "+
			"(Nextcloud: Settings > Security > Devices & sessions > Create new app password): %w", cfg.User, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the server at %s did not answer in time: check the URL and your network: %w", redactURL(cfg.URL), err)
	case errors.Is(err, davclient.ErrTransient):
		return fmt.Errorf("cannot reach the server at %s: check the URL and your network: %w", redactURL(cfg.URL), err)
	case errors.Is(err, davclient.ErrNotFound):
		return fmt.Errorf("no WebDAV folder at %s: check the URL: %w", redactURL(cfg.URL), err)
	}
	return fmt.Errorf("cannot use the server at %s: %w", redactURL(cfg.URL), err)
}

// Mountpoint is the folder the session is mounted on, as given in Config.
func (s *Session) Mountpoint() string { return s.mp }

// Wait blocks until the file system is unmounted (by Unmount, or from outside).
func (s *Session) Wait() { s.server.Wait() }

// Unmount detaches the mount and closes the cache. Safe to call more than once.
func (s *Session) Unmount() error {
	var errs []error
	if s.server != nil {
		if mounted, err := mountinfo.IsMounted(s.mp); err == nil && !mounted {
			// Unmounted from outside (ncvfs unmount, fusermount3 -u): the serve loop has
			// ended; there is nothing left to detach.
			s.server = nil
		}
	}
	if s.server != nil {
		if err := s.server.Unmount(); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", s.mp, err))
		} else {
			s.server = nil
		}
	}
	if len(errs) == 0 && s.Store != nil {
		s.Online.Close() // no probe, and no reconnect hook, runs from here on
		if s.Poller != nil {
			s.Poller.Stop() // a pass in flight ends; none starts after Unmount returns
		}
		s.stopControl() // its operations read the store; a flush waiting ends here
		if s.Uploader != nil {
			s.Uploader.Close() // an upload in flight resumes at the next mount
			if n, err := s.Store.QueueLen(); err == nil && n > 0 {
				s.log.Warn("changes not uploaded yet; they are uploaded at the next mount", "op", "unmount", "pending", n)
			}
		}
		s.Pinner.Close()  // pinned downloads resume at the next mount
		s.Lister.Close()  // background listings end before the store closes
		s.Fetcher.Close() // record what arrived while the store is still open
		s.Budget.Close()  // the records above may have started an eviction pass
		if err := s.Store.Close(); err != nil {
			errs = append(errs, err)
		}
		s.Store = nil
	}
	return errors.Join(errs...)
}

func orDefault(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// DefaultExcludeFile is $XDG_CONFIG_HOME/ncvfs/exclude (~/.config/ncvfs/exclude).
func DefaultExcludeFile() string {
	base := os.Getenv("XDG_CONFIG_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "ncvfs", "exclude")
}

func loadExcludes(file string) (*exclude.List, error) {
	if file == "" {
		file = DefaultExcludeFile()
	}
	if file == "" {
		return &exclude.List{}, nil
	}
	l, err := exclude.Load(file)
	if err != nil {
		return nil, fmt.Errorf("%w; fix the pattern or remove the line", err)
	}
	return l, nil
}

// DefaultCacheDir is $XDG_CACHE_HOME/ncvfs/<user>@<host><path>, one folder per account.
func DefaultCacheDir(rawURL, user string) (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME or --cache-dir: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "ncvfs", accountKey(rawURL, user)), nil
}

// accountKey makes a file name from an account: readable, and with no path separators.
func accountKey(rawURL, user string) string {
	host, path := rawURL, ""
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		host, path = u.Host, strings.Trim(u.Path, "/")
	}
	key := user + "@" + host
	if path != "" {
		key += "_" + path
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, key)
}

func fsName(cfg Config, info davclient.ServerInfo) string {
	host := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil && u.Host != "" {
		host = u.Host
	}
	// fusermount and mount(2) take options separated by commas.
	return strings.ReplaceAll(cfg.User+"@"+host, ",", "_")
}

// redactURL drops any user:password@ a user may have typed into the URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}
