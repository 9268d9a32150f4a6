"""Over-the-air updates of the agent: resumable verified download, A/B install, self-test, rollback."""
