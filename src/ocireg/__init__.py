"""ocireg: a client for the OCI Distribution API (Docker Registry HTTP API V2)."""
