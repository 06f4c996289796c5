// Loaded before every mocha run (see package.json "mocha.require").
// Keep Pulumi quiet and deterministic in unit tests; nothing here starts services:
// suites that need Redis or the gateway start them themselves (test/helpers/*).
process.env.PULUMI_SKIP_UPDATE_CHECK = "true";
