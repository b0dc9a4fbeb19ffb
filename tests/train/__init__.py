"""Tests of fusegrad.train."""
