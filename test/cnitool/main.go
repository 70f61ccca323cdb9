// cnitool: a cnitool-compatible CNI client for tests, built on the real libcni (Debian's
// golang-github-appc-cni-dev, libcni 1.1.2). ADD/CHECK/DEL go through libcni's own
// AddNetworkList / CheckNetworkList / DelNetworkList, so plugins are exec'd exactly as runtimes
// built on libcni exec them: CNI_* environment, stdin with name/cniVersion/prevResult/runtimeConfig
// injected, the result cached under <cache dir>/results/<net>-<containerID>-<ifname> and handed
// back as prevResult to CHECK and DEL, DEL in reverse plugin order.
//
// libcni 1.1.2 predates spec 1.1 (GC, STATUS), so gc and status follow what the newer libcni
// does (GCNetworkList / GetStatusNetworkList), built on libcni 1.1.2's own pieces: cached
// attachments not listed as valid get a full DEL of the list, then, for lists at cniVersion
// >= 1.1.0, every plugin gets GC with cni.dev/valid-attachments; STATUS goes to every plugin and
// stops at the first error.
//
//	cnitool add|check|del|gc|status NETNAME [NETNS]
//
// Environment, as upstream cnitool: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_ARGS
// (K=V;K=V), CAP_ARGS (JSON capability args, e.g. {"portMappings":[...]}), CNI_IFNAME
// (default eth0). The container ID is "cnitool-" + hex of the first 10 bytes of sha512(abs NETNS).
// Additions for tests:
//
//	CNI_CACHE_DIR          libcni cache dir (default libcni's /var/lib/cni)
//	CNI_CONTAINERID        use this container ID instead of the netns hash
//	GC_VALID_ATTACHMENTS   gc: JSON [{"containerID":..,"ifname":..}] kept (default: none, as upstream)
//	CNITOOL_TRACE          append every plugin exec (CNI_* env, stdin, stdout, error) to this file, one JSON a line
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

const defaultNetDir = "/etc/cni/net.d"

func usage() {
	exe := filepath.Base(os.Args[0])
	fmt.Fprintf(os.Stderr, "%s: add, check, remove, gc or status network interfaces of a network namespace (libcni)\n", exe)
	for _, c := range []string{"add", "check", "del", "gc", "status"} {
		fmt.Fprintf(os.Stderr, "  %s %-6s <net> <netns>\n", exe, c)
	}
	os.Exit(1)
}

func exit(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// parseArgs splits CNI_ARGS "K=V;K=V" as upstream cnitool does.
func parseArgs(args string) ([][2]string, error) {
	var out [][2]string
	for _, pair := range strings.Split(args, ";") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
			return nil, fmt.Errorf("invalid CNI_ARGS pair %q", pair)
		}
		out = append(out, [2]string{kv[0], kv[1]})
	}
	return out, nil
}

// tracingExec is libcni's default exec with a record of every call appended to a file.
type tracingExec struct {
	invoke.RawExec
	version.PluginDecoder
	file string
}

func (t *tracingExec) ExecPlugin(ctx context.Context, pluginPath string, stdinData []byte, environ []string) ([]byte, error) {
	start := time.Now()
	out, err := t.RawExec.ExecPlugin(ctx, pluginPath, stdinData, environ)
	rec := map[string]interface{}{
		"plugin": pluginPath, "ms": time.Since(start).Milliseconds(),
		"stdin": json.RawMessage(stdinData), "stdout": string(out),
	}
	env := map[string]string{}
	for _, kv := range environ {
		if strings.HasPrefix(kv, "CNI_") {
			p := strings.SplitN(kv, "=", 2)
			env[p[0]] = p[1]
		}
	}
	rec["env"] = env
	if err != nil {
		rec["error"] = err.Error()
	}
	if line, e := json.Marshal(rec); e == nil {
		if f, e := os.OpenFile(t.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0600); e == nil {
			_, _ = f.Write(append(line, '\n'))
			_ = f.Close()
		}
	}
	return out, err
}

type attachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

// cachedEntry: the fields of libcni's cniCacheV1 file that gc needs.
type cachedEntry struct {
	Kind           string                 `json:"kind"`
	ContainerID    string                 `json:"containerId"`
	IfName         string                 `json:"ifName"`
	NetworkName    string                 `json:"networkName"`
	CniArgs        [][2]string            `json:"cniArgs,omitempty"`
	CapabilityArgs map[string]interface{} `json:"capabilityArgs,omitempty"`
}

func cacheDir() string {
	if d := os.Getenv("CNI_CACHE_DIR"); d != "" {
		return d
	}
	return libcni.CacheDir
}

func gcNetworkList(ctx context.Context, cninet *libcni.CNIConfig, list *libcni.NetworkConfigList, valid []attachment, haveValid bool) error {
	keep := map[attachment]bool{}
	for _, a := range valid {
		keep[a] = true
	}
	var errs []string
	files, _ := filepath.Glob(filepath.Join(cacheDir(), "results", "*"))
	for _, f := range files {
		data, err := ioutil.ReadFile(f)
		if err != nil {
			continue
		}
		var e cachedEntry
		if json.Unmarshal(data, &e) != nil || e.Kind != libcni.CNICacheV1 || e.NetworkName != list.Name {
			continue
		}
		if keep[attachment{e.ContainerID, e.IfName}] {
			continue
		}
		rt := &libcni.RuntimeConf{ContainerID: e.ContainerID, IfName: e.IfName, Args: e.CniArgs, CapabilityArgs: e.CapabilityArgs}
		if err := cninet.DelNetworkList(ctx, list, rt); err != nil {
			errs = append(errs, fmt.Sprintf("failed to delete stale attachment %s %s: %v", e.ContainerID, e.IfName, err))
		}
	}
	if ge, _ := version.GreaterThanOrEqualTo(list.CNIVersion, "1.1.0"); ge {
		inject := map[string]interface{}{"name": list.Name, "cniVersion": list.CNIVersion}
		if haveValid {
			inject["cni.dev/valid-attachments"] = valid
		}
		for _, p := range list.Plugins {
			if err := execNoResult(ctx, cninet, p, inject, "GC"); err != nil {
				errs = append(errs, fmt.Sprintf("failed to GC plugin %s: %v", p.Network.Type, err))
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func statusNetworkList(ctx context.Context, cninet *libcni.CNIConfig, list *libcni.NetworkConfigList) error {
	if ge, _ := version.GreaterThanOrEqualTo(list.CNIVersion, "1.1.0"); !ge {
		fmt.Fprintf(os.Stderr, "status: network %q is at cniVersion %q; STATUS needs 1.1.0 (no plugin called)\n", list.Name, list.CNIVersion)
		return nil
	}
	inject := map[string]interface{}{"name": list.Name, "cniVersion": list.CNIVersion}
	for _, p := range list.Plugins {
		if err := execNoResult(ctx, cninet, p, inject, "STATUS"); err != nil {
			return err
		}
	}
	return nil
}

func execNoResult(ctx context.Context, cninet *libcni.CNIConfig, p *libcni.NetworkConfig, inject map[string]interface{}, cmd string) error {
	conf, err := libcni.InjectConf(p, inject)
	if err != nil {
		return err
	}
	path, err := invoke.FindInPath(p.Network.Type, cninet.Path)
	if err != nil {
		return err
	}
	args := &invoke.Args{Command: cmd, Path: strings.Join(cninet.Path, string(os.PathListSeparator))}
	return invoke.ExecPluginWithoutResult(ctx, path, conf.Bytes, args, execFor())
}

var theExec invoke.Exec

func execFor() invoke.Exec {
	if theExec == nil {
		if f := os.Getenv("CNITOOL_TRACE"); f != "" {
			theExec = &tracingExec{RawExec: invoke.RawExec{Stderr: os.Stderr}, file: f}
		} else {
			theExec = &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}
		}
	}
	return theExec
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	cmd := os.Args[1]
	switch cmd {
	case "add", "check", "del":
		if len(os.Args) < 4 {
			usage()
		}
	case "gc", "status":
	default:
		usage()
	}

	netdir := os.Getenv("NETCONFPATH")
	if netdir == "" {
		netdir = defaultNetDir
	}
	netconf, err := libcni.LoadConfList(netdir, os.Args[2])
	if err != nil {
		exit(err)
	}

	var capabilityArgs map[string]interface{}
	if v := os.Getenv("CAP_ARGS"); v != "" {
		if err := json.Unmarshal([]byte(v), &capabilityArgs); err != nil {
			exit(fmt.Errorf("CAP_ARGS: %w", err))
		}
	}
	var cniArgs [][2]string
	if v := os.Getenv("CNI_ARGS"); v != "" {
		if cniArgs, err = parseArgs(v); err != nil {
			exit(err)
		}
	}
	ifName, ok := os.LookupEnv("CNI_IFNAME")
	if !ok {
		ifName = "eth0"
	}

	cninet := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), execFor())
	ctx := context.Background()

	switch cmd {
	case "gc":
		var valid []attachment
		v, have := os.LookupEnv("GC_VALID_ATTACHMENTS")
		if have {
			if err := json.Unmarshal([]byte(v), &valid); err != nil {
				exit(fmt.Errorf("GC_VALID_ATTACHMENTS: %w", err))
			}
		}
		exit(gcNetworkList(ctx, cninet, netconf, valid, have))
	case "status":
		exit(statusNetworkList(ctx, cninet, netconf))
	}

	netns, err := filepath.Abs(os.Args[3])
	if err != nil {
		exit(err)
	}
	containerID := os.Getenv("CNI_CONTAINERID")
	if containerID == "" {
		s := sha512.Sum512([]byte(netns))
		containerID = fmt.Sprintf("cnitool-%x", s[:10])
	}
	rt := &libcni.RuntimeConf{ContainerID: containerID, NetNS: netns, IfName: ifName, Args: cniArgs, CapabilityArgs: capabilityArgs}

	switch cmd {
	case "add":
		result, err := cninet.AddNetworkList(ctx, netconf, rt)
		if result != nil {
			_ = result.Print()
		}
		exit(err)
	case "check":
		exit(cninet.CheckNetworkList(ctx, netconf, rt))
	case "del":
		exit(cninet.DelNetworkList(ctx, netconf, rt))
	}
}
