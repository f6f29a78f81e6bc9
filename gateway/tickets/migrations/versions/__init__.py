"""The revisions, oldest first: r0001 is the first release's schema, adopted in place where it already exists."""
