// Package java is a stand-in for pulumi-java's codegen package: only the PackageInfo struct that the
// docker-build provider embeds in its schema (see ../../../../README.md for why).
package java

// PackageInfo is the schema "language.java" section, with pulumi-java's field names and JSON tags.
type PackageInfo struct {
	Packages                        map[string]string `json:"packages,omitempty"`
	BasePackage                     string            `json:"basePackage,omitempty"`
	BuildFiles                      string            `json:"buildFiles"`
	Dependencies                    map[string]string `json:"dependencies,omitempty"`
	GradleNexusPublishPluginVersion string            `json:"gradleNexusPublishPluginVersion"`
	GradleTest                      string            `json:"gradleTest"`
}
