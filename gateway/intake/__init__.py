"""The inbound path: the pipeline, conversation threading, language, and the runtime that builds them."""
