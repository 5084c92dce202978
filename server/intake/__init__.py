"""Everything that writes records: the write envelope, the JSON push, a coordinator's resolution, quarantine and
review."""
