"""Durable state: the commit (group commit, spool), blobs, the Redis connection and the embedded Redis."""
