"""Tests of sekimori.detect."""
