"""Proving-ground self-test of the Python language host: stack config (plain + secret) in, outputs out."""
import pulumi

cfg = pulumi.Config()
pulumi.export("greeting", "hello " + (cfg.get("who") or "world"))
pulumi.export("secret", cfg.require_secret("s"))
