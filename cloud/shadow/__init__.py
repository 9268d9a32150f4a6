"""The config shadow: desired and reported documents with versions, and their delta."""
