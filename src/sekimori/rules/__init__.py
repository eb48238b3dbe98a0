"""Sekimori's own Sigma rules for the Emotet chain (package data, one rule per ``*.yml``)."""
