"""Rollouts: a release sent to a device group in waves, halted by failures or by worse health."""
