"""Index builds on a Ray cluster: its stages, its nodes and their authentication token."""
