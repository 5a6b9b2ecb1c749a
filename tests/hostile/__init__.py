"""Hostile input and security: every recipe handed what no caller should send.

Each test gives a recipe (or the engine) something hostile -- binary, unicode, empty or very
long names and values, keys of the wrong type already in Redis, numbers that are not numbers,
20 MB arguments, batches past Lua's 8000-slot unpack limit -- and checks that it answers with a
clear error or a correct result, and never leaves a partial write behind. `_support` holds the
shared pieces: a snapshot of the database (DUMP of every key) and the hostile values.
"""
