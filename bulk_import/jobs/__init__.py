"""The commands as jobs on one engine: the engine runs the pool, the journal, the stops and the
signals once for every command; each job is a row handler plus what it needs to set up.
"""
