"""A small package measured by tests/coverage.rs."""
VERSION = "1.0"
