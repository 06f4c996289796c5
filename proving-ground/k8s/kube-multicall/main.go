// Command longshore-kube is a multi-call binary holding the Kubernetes server components and kubectl
// (in the spirit of the retired "hyperkube"): one link of the huge dependency graph instead of six.
// It dispatches on the basename of argv[0] (symlinks kube-apiserver, kubelet, ... point at it) or on
// its first argument (`longshore-kube kubelet --flags...`).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as the upstream mains do
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go + workqueue metrics
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 kubelet.NewKubeletCommand,
	"kube-proxy":              proxy.NewProxyCommand,
}

func main() {
	self := filepath.Base(os.Args[0])
	name := self
	if name == "kubectl" {
		os.Exit(runKubectl())
	}
	if _, ok := commands[name]; !ok && len(os.Args) > 1 {
		name = os.Args[1]
		os.Args = append([]string{name}, os.Args[2:]...)
		if name == "kubectl" {
			os.Exit(runKubectl())
		}
	}
	newCmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "usage: %s {kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl} [flags]\n", self)
		os.Exit(2)
	}
	os.Exit(cli.Run(newCmd()))
}

func runKubectl() int {
	// Same as k8s.io/kubernetes/cmd/kubectl: errors are printed by kubectl itself.
	if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
		cmdutil.CheckErr(err) // prints and exits non-zero
	}
	return 0
}
