"""The Model Context Protocol adapter: tools and resources over stdio and /mcp."""
