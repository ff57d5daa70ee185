"""Test support shared by the test suites (integration sandboxes, rendering helpers)."""
