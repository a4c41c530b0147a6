"""Long-running reliability commands (not part of the default test run); see README.md."""
