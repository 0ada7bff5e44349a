"""The supplier and carrier portal: flow nodes given to parties outside the company (issue 16)."""
