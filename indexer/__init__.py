"""Build search indexes of inspection reports: load, chunk, embed, store."""
