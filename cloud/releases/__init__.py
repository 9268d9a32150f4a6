"""OTA releases: a signed release document and its artifact, verified on upload, served with Range."""
