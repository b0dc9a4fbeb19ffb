"""fusegrad: a small, fast deep-learning engine (public API re-exports only)."""
