"""fastest's worker harness: Python-side code embedded in the fastest binary."""
