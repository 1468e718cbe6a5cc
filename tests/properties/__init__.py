"""Property-based suite (a package so its test modules can share ``_support``)."""
