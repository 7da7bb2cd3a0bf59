"""The workspace's front door: one TLS port for REST and Spark Connect, its CA, and client trust."""
