"""The device registry: which devices exist and what they last said."""
