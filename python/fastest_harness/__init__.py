"""fastest's worker harness: Python-side code embedded in the fastest binary."""

# The wire version of crates/fastest-protocol (`PROTOCOL_VERSION`): worker messages and
# dynamic collection output. Both sides change together.
PROTOCOL_VERSION = 10
