"""Reading documents: a corpus file's format, text, pages, headings, metadata and furniture."""
