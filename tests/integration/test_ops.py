#!/usr/bin/python3
"""ops (issue 9): being written."""
