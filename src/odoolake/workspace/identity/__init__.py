"""Who is calling: personal access tokens (stored hashed), the local user, SCIM Me."""
