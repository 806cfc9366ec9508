package session

import (
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/internal/exclude"
)

// maxNameBytes: the desktop clients never sync longer names (protocol.md).
const maxNameBytes = 254

// nameRefusal returns what says whether the server would refuse a name: characters and
// names the capabilities announce, else Nextcloud's defaults (a backslash answers 400,
// .htaccess 403); generic WebDAV servers refuse nothing in particular.
func nameRefusal(info davclient.ServerInfo) func(string) error {
	chars := info.Capabilities.ForbiddenFilenameCharacters
	names := info.Capabilities.BlacklistedFiles
	if info.Dialect == davclient.DialectNextcloud {
		if len(chars) == 0 {
			chars = []string{"\\"}
		}
		if len(names) == 0 {
			names = []string{".htaccess"}
		}
	}
	return func(name string) error {
		if len(name) > maxNameBytes {
			return fmt.Errorf("a name of %d bytes is longer than %d", len(name), maxNameBytes)
		}
		for _, c := range chars {
			if c != "" && strings.Contains(name, c) {
				return fmt.Errorf("the server does not accept %q in names", c)
			}
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
			return fmt.Errorf("the server does not accept files called %q", name)
		}
		return nil
	}
}

// excludedName says whether a name lives only here: editors' swap, lock and backup
// files, partial downloads, conflict copies (the desktop clients' defaults). Names are
// checked alone: a file made at the root is not "at the root" of the exclude rules
// unless its folder is the root, which only Desktop.ini cares about.
func excludedName(name string) bool {
	_, excluded := exclude.Match(name)
	return excluded
}

// notifyConflict tells the desktop user of a conflict copy, where notify-send exists.
func notifyConflict(log *slog.Logger, mountpoint, copyPath string) {
	bin, err := exec.LookPath("notify-send")
	if err != nil {
		return
	}
	full := filepath.Join(mountpoint, copyPath)
	cmd := exec.Command(bin, "ncvfs: conflict", "Both sides changed a file; your version is kept as "+full)
	if err := cmd.Start(); err != nil {
		log.Debug("notify-send", "err", err)
		return
	}
	go cmd.Wait() //nolint:errcheck // reaped; its outcome does not matter

}
