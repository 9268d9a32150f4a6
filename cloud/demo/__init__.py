"""The simulated fleet that `mobilytics up --simulate` starts for a first look."""
