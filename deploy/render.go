// Package deploy holds rtcscale's Helm chart (helm/rtcscale), its kustomize
// base, components and overlays (kustomize/) and example HPAs (examples/),
// and renders them as `helm template` and `kustomize build` do, with the
// Helm v4 and kustomize libraries: for the tests here, which decode every
// object strictly into its Kubernetes type and check what an operator
// relies on, and for tests that apply them to a control plane.
package deploy

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// RenderChart renders the chart in chartDir as `helm template release
// chartDir --namespace namespace -f values` does, and returns its manifests
// (NOTES.txt aside) as one YAML stream. With no cluster to look up, the
// generated serving certificate is new on every call.
func RenderChart(chartDir, release, namespace, valuesYAML string) ([]byte, error) {
	return renderChartWith(chartDir, release, namespace, valuesYAML, engine.Render)
}

// RenderChartAgainst renders the chart as `helm upgrade --install` does
// against the cluster of config: the templates' lookup reads that cluster,
// so tls.mode=generate keeps the certificate of the Secret already there.
func RenderChartAgainst(config *rest.Config, chartDir, release, namespace, valuesYAML string) ([]byte, error) {
	return renderChartWith(chartDir, release, namespace, valuesYAML, func(ch chart.Charter, vals common.Values) (map[string]string, error) {
		return engine.RenderWithClient(ch, vals, config)
	})
}

// renderer renders a loaded chart with its values: engine.Render, whose
// lookup finds nothing, or a rendering whose lookup reads a cluster.
type renderer func(chart.Charter, common.Values) (map[string]string, error)

// renderChartWith renders the manifests with render.
func renderChartWith(chartDir, release, namespace, valuesYAML string, render renderer) ([]byte, error) {
	files, err := renderFilesWith(render, chartDir, release, namespace, valuesYAML)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var stream bytes.Buffer
	for _, name := range names {
		fmt.Fprintf(&stream, "---\n# Source: %s\n%s\n", name, files[name])
	}
	return stream.Bytes(), nil
}

// BuildKustomize runs `kustomize build` on dir, a folder under root (the
// kustomize tree), in an in-memory copy of root to which extra files (path
// relative to root -> content) are added first: an overlay's certificate
// files, or an overlay of its own.
func BuildKustomize(root, dir string, extra map[string]string) ([]byte, error) {
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join("/", rel), b)
	})
	if err != nil {
		return nil, err
	}
	for path, content := range extra {
		if err := mem.WriteFile(filepath.Join("/", path), []byte(content)); err != nil {
			return nil, err
		}
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, filepath.Join("/", dir))
	if err != nil {
		return nil, err
	}
	return res.AsYaml()
}

// renderFiles renders every template of the chart, NOTES.txt included, by
// its path ("rtcscale/templates/NOTES.txt").
func renderFiles(chartDir, release, namespace, valuesYAML string) (map[string]string, error) {
	return renderFilesWith(engine.Render, chartDir, release, namespace, valuesYAML)
}

// renderFilesWith is renderFiles with render.
func renderFilesWith(render renderer, chartDir, release, namespace, valuesYAML string) (map[string]string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	var vals map[string]any
	if err := yaml.Unmarshal([]byte(valuesYAML), &vals); err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	top, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true, Revision: 1}, nil)
	if err != nil {
		return nil, err
	}
	return render(ch, top)
}
