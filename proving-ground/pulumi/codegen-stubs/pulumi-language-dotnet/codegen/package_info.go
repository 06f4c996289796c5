// Package codegen is a stand-in for pulumi-language-dotnet's codegen package: only the CSharpPackageInfo struct
// that the docker-build provider embeds in its schema (see ../../README.md for why).
package codegen

// CSharpPackageInfo is the schema "language.csharp" section, with the upstream field names and JSON tags.
type CSharpPackageInfo struct {
	PackageReferences      map[string]string `json:"packageReferences,omitempty"`
	Namespaces             map[string]string `json:"namespaces,omitempty"`
	Compatibility          string            `json:"compatibility,omitempty"`
	DictionaryConstructors bool              `json:"dictionaryConstructors,omitempty"`
	RootNamespace          string            `json:"rootNamespace,omitempty"`
	RespectSchemaVersion   bool              `json:"respectSchemaVersion,omitempty"`
}
