"""The stored index: vectors, lexical postings, chunk and sentence stores, versions and their publication."""
