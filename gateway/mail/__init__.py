"""Email intake: IMAP, the poller process, mailbox health and archive import."""
