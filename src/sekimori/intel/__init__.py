"""Threat intelligence: feed readers, the indicator store, matching and blocklist export."""
